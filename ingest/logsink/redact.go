package logsink

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// What the detectors read: text with its JSON string escapes decoded.
//
// A key is often logged JSON-escaped: '/' as \/ (PHP's json_encode), '+' as
// \u002B (.NET's System.Text.Json), inside a JSON body, or inside a JSON log
// line that travels as a string in another JSON body (a Docker log line in a
// shipper's NDJSON, an application's JSON line in a Loki push). Its bytes in
// the request are then not the key, while the labels, decoded from JSON,
// hold the plain key. So the detectors read every entry with its escapes
// decoded, up to maxUnescape levels deep: what they find, and what is
// sealed, is the key itself.

// maxUnescape is how many levels of JSON string escaping the detectors read
// through: a JSON body, a JSON log line carried in it, and one more.
const maxUnescape = 3

// unescape returns b with its JSON string escapes decoded, up to maxUnescape
// levels deep; b itself when it holds none.
func unescape(b []byte) []byte {
	for range maxUnescape {
		d, ok := unescapeOnce(b)
		if !ok {
			break
		}
		b = d
	}
	return b
}

// unescapeOnce decodes the JSON string escapes of b (\" \\ \/ \b \f \n \r \t
// and \uXXXX, with surrogate pairs) as encoding/json does: a lone surrogate
// becomes U+FFFD. A backslash that starts no valid escape stays, and so does
// every other byte: b need not be JSON. ok is false when b holds no escape.
func unescapeOnce(b []byte) (out []byte, ok bool) {
	last := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			break
		}
		i += j
		if i+1 >= len(b) {
			break
		}
		r, n := rune(-1), 2
		switch c := b[i+1]; c {
		case '"', '\\', '/':
			r = rune(c)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			if u := hex4(b, i+2); u >= 0 {
				r, n = u, 6
				if utf16.IsSurrogate(u) {
					r = unicode.ReplacementChar
					if i+8 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						if d := utf16.DecodeRune(u, hex4(b, i+8)); d != unicode.ReplacementChar {
							r, n = d, 12
						}
					}
				}
			}
		}
		if r < 0 {
			i++
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:i]...)
		out = utf8.AppendRune(out, r)
		i += n
		last = i
	}
	if out == nil {
		return b, false
	}
	return append(out, b[last:]...), true
}

// hex4 reads 4 hex digits at b[i:] (-1: not there).
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Redaction.
//
// Labels reach an exposure through sanitize, which removes every secret
// found in the request from them and only then cuts them to their bounds:
// parsers keep labels whole. As a backstop, what is removed is not only a
// whole secret but any run of runLen bytes of one (a piece of a key cut off
// upstream, or two keys overlapping), and, where a label's text begins or
// ends (a cut, by Firebreak or by the sender), even a piece of pieceMin
// bytes. A label that holds a secret JSON-escaped (a label whose value is
// JSON text) is read as the detectors read it, with its escapes decoded,
// and is then published decoded, without the secret.

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
	if r == nil {
		return out
	}
	// Read as the detectors read it, escapes decoded — only as much of v as
	// the answer needs: limit bytes, plus what the secrets redacted on the
	// way take, at up to 16 bytes a character (escapes at maxUnescape
	// levels). Decoding keeps the secrets that are there in plain text (a
	// secret holds no backslash), so the decoded text, when it shows a
	// secret, is what is published.
	head := v[:min(len(v), 16*(limit+(limit/len(redacted)+2)*r.maxLen))]
	if strings.IndexByte(head, '\\') < 0 {
		return out
	}
	d := unescape([]byte(head))
	if len(d) == len(head) {
		return out // no escape
	}
	if dout, hit := r.redact(string(d), limit); hit {
		return dout
	}
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
