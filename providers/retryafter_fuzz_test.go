package providers

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter: a provider's Retry-After header, whatever it holds,
// is never a negative delay (the responder would retry at once) and never
// more than MaxRetryAfter (a message naked for years is a lost one).
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "2", "0.5", "-1", "1e300", "NaN", "Inf", "120", "99999999999",
		"Sun, 01 Nov 2026 12:00:30 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d := ParseRetryAfter(h, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", h, d)
		}
	})
}
