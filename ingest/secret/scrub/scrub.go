// Package scrub removes raw secrets from text that is about to leave the
// process as an error, a log field or an exposure's metadata: a provider's
// error body that echoes the key it refused, a ticket label that repeats a
// key pasted in the ticket's body.
//
// Echoes are often partial — masked in the middle, cut at a length limit,
// without the key's public prefix, without the trailing newline a secret file
// carried — so Text removes not only whole occurrences of a secret but every
// run of MinRun or more of its characters. Every occurrence of every such
// run is marked in the original text first and the marked spans are then
// replaced in one pass: replacing pieces one after another would change the
// text under the later pieces and leave the remainders behind.
package scrub

import (
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// MinRun is the shortest run of a secret's characters that Text removes:
// text that has passed through Text holds no run of MinRun or more
// characters of a secret that reaches past its public prefix ("ghp_",
// "sk-proj-"). Shorter runs stay. Why 6:
//
//   - A run of at most 5 characters of a key's random part carries at most
//     30 bits (base62/base64) of a random part of 120 bits or more, at an
//     unknown offset; the last 4 characters are public anyway (every hint,
//     and every provider's masked echo, shows them).
//   - A given 6-character run of a random key occurs by chance in unrelated
//     text with a probability of about 62^-6 (2e-11) per position, so
//     removing every such run costs nothing in false matches; shorter runs
//     would start to eat ordinary words, ids and the 4-character tails that
//     masks and hints show on purpose.
//
// Low-entropy secrets (a human-chosen signing secret) lose this guarantee's
// second half: their 6-character runs may be ordinary words, which are then
// removed from the text too. That errs on the safe side.
const MinRun = 6

// Text returns s with every secret removed: each whole occurrence of a secret
// (as given, and trimmed of surrounding whitespace) and each occurrence of any
// run of MinRun characters of it that reaches past its public prefix are
// marked in s, and every marked span is replaced by secret.Redacted. The
// public prefix stays where only a partial run follows it ("ghp_[REDACTED]").
// Text returns s itself when there is nothing to remove.
func Text(s string, secrets ...secret.Value) string {
	if s == "" {
		return s
	}
	var mark []bool
	cover := func(needle string, skip int) {
		for from := 0; from+len(needle) <= len(s); {
			i := strings.Index(s[from:], needle)
			if i < 0 {
				return
			}
			if mark == nil {
				mark = make([]bool, len(s))
			}
			at := from + i
			for j := at + skip; j < at+len(needle); j++ {
				mark[j] = true
			}
			from = at + 1
		}
	}
	for _, v := range secrets {
		raw := v.Reveal()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" {
			continue
		}
		if raw != trimmed {
			cover(raw, 0)
		}
		cover(trimmed, 0)
		public := Prefix(trimmed)
		for i := 0; i+MinRun <= len(trimmed); i++ {
			if i+MinRun <= len(public) {
				continue // wholly inside the public prefix
			}
			cover(trimmed[i:i+MinRun], max(0, len(public)-i))
		}
	}
	if mark == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if !mark[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		for i < len(s) && mark[i] {
			i++
		}
		b.WriteString(secret.Redacted)
	}
	return b.String()
}

// Prefix returns the public prefix of a key format that raw starts with
// ("ghp_", "sk-proj-"), or "": the part of a key every hint shows.
func Prefix(raw string) string {
	p, _, _ := strings.Cut(secret.Hint(secret.New(raw)), "…")
	return p
}
