package openai

import (
	"strings"
	"unicode/utf8"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// MatchRedacted reports whether key could be the key behind redacted, the
// redacted_value the Admin API lists for a key.
//
// The reference describes redacted_value only as "the redacted value of the
// API key" and its examples show "sk-abc...def" (project keys) and
// "sk-admin...def" (admin keys); keys seen in the wild read "sk-proj-...9f2c".
// So the form is read as: a visible head, a mask (a run of '.', '*' or '…'),
// and a visible tail. The key matches when it starts with the head, ends with
// the tail, and is long enough to hold both. A redacted value without a mask
// matches only the identical key, and one that shows fewer than four
// characters in all (head and tail together, not counting "sk-") matches
// nothing: that would be a guess, not a match.
func MatchRedacted(redacted string, key secret.Value) bool {
	k := key.Reveal()
	head, tail, masked := splitRedacted(redacted)
	if !masked {
		return redacted != "" && redacted == k
	}
	if len(strings.TrimPrefix(head, "sk-"))+len(tail) < 4 {
		return false
	}
	return len(k) >= len(head)+len(tail) && strings.HasPrefix(k, head) && strings.HasSuffix(k, tail)
}

// splitRedacted splits a redacted value at its first run of mask characters.
func splitRedacted(r string) (head, tail string, masked bool) {
	start := -1
	end := -1
	for i, c := range r {
		isMask := c == '.' || c == '*' || c == '…'
		if start < 0 {
			if isMask {
				start = i
				end = i + utf8.RuneLen(c)
			}
			continue
		}
		if !isMask {
			break
		}
		end = i + utf8.RuneLen(c)
	}
	if start < 0 {
		return r, "", false
	}
	return r[:start], r[end:], true
}
