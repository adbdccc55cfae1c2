package app_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
)

var sinceNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// ParseSince reads a duration ago or an RFC 3339 time; a value it cannot
// read, or a duration that would overflow (and so land in the future),
// is refused with an error naming the value and, for a range, the limit.
func TestParseSince(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"90m", sinceNow.Add(-90 * time.Minute)},
		{"24h", sinceNow.Add(-day)},
		{"1h30m", sinceNow.Add(-90 * time.Minute)},
		{"1.5h", sinceNow.Add(-90 * time.Minute)},
		{"0", sinceNow},
		{"0d", sinceNow},
		{"7d", sinceNow.Add(-7 * day)},
		{"+7d", sinceNow.Add(-7 * day)},
		{"106751d", sinceNow.Add(-106751 * day)},
		{"2562047h", sinceNow.Add(-2562047 * time.Hour)},
		{"2026-10-31T08:00:00Z", time.Date(2026, 10, 31, 8, 0, 0, 0, time.UTC)},
		{"2027-01-01T00:00:00+02:00", time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC)}, // a future time is taken as given
		{"2026-10-31T08:00:00.5Z", time.Date(2026, 10, 31, 8, 0, 0, 5e8, time.UTC)},
	} {
		got, err := app.ParseSince(c.in, sinceNow)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in, msg string
		is      error
	}{
		{"106752d", `"106752d" is out of range: a time ago reaches back at most 106751d (about 292 years)`, app.ErrTimeRange},
		{"99999999999999999999d", `"99999999999999999999d" is out of range: a time ago reaches back at most 106751d (about 292 years)`, app.ErrTimeRange},
		{"2562048h", `"2562048h" is out of range: a time ago reaches back at most 106751d (about 292 years)`, app.ErrTimeRange},
		{"153722868m", `"153722868m" is out of range: a time ago reaches back at most 106751d (about 292 years)`, app.ErrTimeRange},
		{"2562047h60m", `"2562047h60m" is out of range: a time ago reaches back at most 106751d (about 292 years)`, app.ErrTimeRange},
		{"", `"" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"yesterday", `"yesterday" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"-7d", `"-7d" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"-1h", `"-1h" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"1.5d", `"1.5d" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"d", `"d" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"7", `"7" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
		{"2026-10-31", `"2026-10-31" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`, app.ErrTimeSyntax},
	} {
		got, err := app.ParseSince(c.in, sinceNow)
		if err == nil || err.Error() != c.msg || !errors.Is(err, c.is) {
			t.Errorf("ParseSince(%q) = %v, %v; want the error %q (%v)", c.in, got, err, c.msg, c.is)
		}
	}
}

// FuzzParseSince: whatever the value, ParseSince refuses it with one of its
// errors, or reads an RFC 3339 time as that time, or reads a duration ago as
// a time not after now and not before the furthest a duration reaches back.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"90m", "24h", "7d", "+7d", "106751d", "106752d", "9223372036854775807d", "2562048h", "1h30m",
		".5h", "1.h", "-0d", "0", "", "2026-10-31T08:00:00Z", "9999-12-31T23:59:59+14:00", "2026-10-31T08:00:00.123456789-07:00"} {
		f.Add(s)
	}
	oldest := sinceNow.Add(-time.Duration(math.MaxInt64)) // the longest duration
	f.Fuzz(func(t *testing.T, s string) {
		got, err := app.ParseSince(s, sinceNow)
		if err != nil {
			if !errors.Is(err, app.ErrTimeSyntax) && !errors.Is(err, app.ErrTimeRange) {
				t.Fatalf("ParseSince(%q): %v wraps neither ErrTimeSyntax nor ErrTimeRange", s, err)
			}
			return
		}
		if abs, perr := time.Parse(time.RFC3339, s); perr == nil {
			if !got.Equal(abs) {
				t.Fatalf("ParseSince(%q) = %v, want the time itself %v", s, got, abs)
			}
			return
		}
		if got.After(sinceNow) || got.Before(oldest) {
			t.Fatalf("ParseSince(%q) = %v: a duration ago outside [%v, %v]", s, got, oldest, sinceNow)
		}
	})
}
