package logsink

import (
	"strings"
	"unsafe"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Redaction.
//
// Labels reach an exposure through sanitize, which removes every secret
// found in the request from them and only then cuts them to their bounds:
// parsers keep labels whole. As a backstop, what is removed is not only a
// whole secret but any run of runLen bytes of one (a piece of a key cut off
// upstream, or two keys overlapping), and, where a label's text begins or
// ends (a cut, by Firebreak or by the sender), even a piece of pieceMin
// bytes.

const (
	// runLen: no run of runLen bytes of a found secret survives in a label.
	runLen = 12
	// pieceMin: at a label's edges no piece of pieceMin bytes survives.
	pieceMin = 6
	redacted = "[REDACTED]"
)

// redactor removes the secrets found in one request from label text. A nil
// *redactor removes nothing (and still cuts).
type redactor struct {
	secrets []string
	runs    map[string][]runAt // every runLen-byte run of every secret
	short   []string           // secrets shorter than runLen (no detector's today)
	heads   map[string]bool    // every secret's first pieceMin..runLen-1 bytes
	tails   map[string]bool    // every secret's last pieceMin..runLen-1 bytes
	maxLen  int
	// memo holds what clean made of the long strings it has seen: the
	// records of one envelope share its labels, which are cleaned once.
	memo map[memoKey]string
}

// memoKey names a string by identity (its bytes' address and length: the
// same string, not one equal to it, so that the lookup costs nothing for a
// long label) and the bound it was cut to. Holding the address keeps the
// bytes alive, so no other string can take it while the memo lives.
type memoKey struct {
	p        *byte
	n, limit int
}

// runAt says where a run occurs: secret s, from byte at.
type runAt struct{ s, at int }

func newRedactor(secrets []string) *redactor {
	r := &redactor{runs: map[string][]runAt{}, heads: map[string]bool{}, tails: map[string]bool{}, memo: map[memoKey]string{}}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		si := len(r.secrets)
		r.secrets = append(r.secrets, s)
		r.maxLen = max(r.maxLen, len(s))
		if len(s) < runLen {
			r.short = append(r.short, s)
		}
		// A run inside the key format's public prefix ("sk-ant-api03-") is
		// shared by every key of the format: it keeps one key's place only,
		// so that a batch of many keys costs no more per label (match goes
		// on from the runs that start inside it).
		public, _, _ := strings.Cut(secret.Hint(secret.New(s)), "…")
		for i := 0; i+runLen <= len(s); i++ {
			w := s[i : i+runLen]
			if i+runLen <= len(public) && len(r.runs[w]) > 0 {
				continue
			}
			r.runs[w] = append(r.runs[w], runAt{si, i})
		}
		for n := pieceMin; n < runLen && n < len(s); n++ {
			r.heads[s[:n]] = true
			r.tails[s[len(s)-n:]] = true
		}
	}
	if len(r.secrets) == 0 {
		return nil
	}
	return r
}

// clean returns v without any secret text, cut to at most limit bytes.
func (r *redactor) clean(v string, limit int) string {
	if r == nil || len(v) <= maxLabelKey {
		return r.cleanOnce(v, limit)
	}
	k := memoKey{unsafe.StringData(v), len(v), limit}
	out, ok := r.memo[k]
	if !ok {
		out = r.cleanOnce(v, limit)
		r.memo[k] = out
	}
	return out
}

func (r *redactor) cleanOnce(v string, limit int) string {
	out, _ := r.redact(v, limit)
	return out
}

// redact returns v with every secret text replaced by [REDACTED], cut to at
// most limit bytes on a rune boundary, and whether it replaced anything. It
// reads v only as far as the answer needs, so that a long label costs no
// more than a short one.
func (r *redactor) redact(v string, limit int) (string, bool) {
	if r == nil {
		return truncate(v, limit), false
	}
	var b []byte
	last, hit := 0, false
	i := 0
	// Every byte the answer keeps is checked; once the answer is full the
	// rest of v is cut.
	for i < len(v) && len(b)+i-last < limit {
		if end := r.match(v, i); end > i {
			b = append(b, v[last:i]...)
			b = append(b, redacted...)
			i, last, hit = end, end, true
			continue
		}
		i++
	}
	b = append(b, v[last:min(len(v), last+limit)]...)
	out := truncate(string(b), limit)
	// The edges: a piece of a secret where the text ends (v's end, or the
	// cut) or begins.
	for n := runLen - 1; n >= pieceMin; n-- {
		if len(out) >= n && r.heads[out[len(out)-n:]] {
			out, hit = truncate(out[:len(out)-n]+redacted, limit), true
			break
		}
	}
	for n := runLen - 1; n >= pieceMin; n-- {
		if len(out) >= n && r.tails[out[:n]] {
			out, hit = truncate(redacted+out[n:], limit), true
			break
		}
	}
	return out, hit
}

// match returns the end of the secret text starting at v[i] (i: none): the
// longest run of a secret there, with any run of a secret that starts
// inside it and reaches further.
func (r *redactor) match(v string, i int) int {
	end := i
	if i+runLen <= len(v) {
		end = r.extend(v, i, end)
	}
	for _, s := range r.short {
		if strings.HasPrefix(v[i:], s) {
			end = max(end, i+len(s))
		}
	}
	for p := i + 1; end > i && p < end && p+runLen <= len(v); p++ {
		end = r.extend(v, p, end)
	}
	return end
}

// extend returns the larger of end and the end of the longest run of a
// secret at v[p].
func (r *redactor) extend(v string, p, end int) int {
	for _, ra := range r.runs[v[p:p+runLen]] {
		s := r.secrets[ra.s][ra.at:]
		n := runLen
		for n < len(s) && p+n < len(v) && v[p+n] == s[n] {
			n++
		}
		end = max(end, p+n)
	}
	return end
}
