package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const dump = `# start CLOCK_MONOTONIC 100.5
# alert sent_ms | ms after sending: received fetched located verify_start verify_end revoke_start deleted (- when not reached)
501 1000.0 0.30 1.00 1.10 1.50 1.80 1.81 2.50
502 1002.0 0.30 1.00 1.10 1.50 1.80 1.81 40.00
503 1004.0 0.30 1.00 - - - - -
504 1010.0 0.30 1.00 1.10 1.50 1.80 1.81 30.00
`

// The dump's alerts are placed on CLOCK_MONOTONIC from its header; alerts
// never revoked are left out.
func TestReadDump(t *testing.T) {
	got, err := readDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	want := []alert{
		{sent: 101.5, latency: 2500 * time.Microsecond},
		{sent: 101.502, latency: 40 * time.Millisecond},
		{sent: 101.510, latency: 30 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d alerts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if d := got[i].sent - want[i].sent; d > 1e-9 || d < -1e-9 || got[i].latency != want[i].latency {
			t.Errorf("alert %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadDumpErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"no start", "1 1000.0 0.3 2.5\n", "", errNoStart},
		{"empty", "", "", errNoStart},
		{"bad start", "# start CLOCK_MONOTONIC soon\n", "line 1: start", nil},
		{"short line", "# start CLOCK_MONOTONIC 1\n7 1000.0\n", "line 2: 2 fields", nil},
		{"bad number", "# start CLOCK_MONOTONIC 1\n7 1000.0 x\n", "line 2:", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readDump(strings.NewReader(tc.in))
			switch {
			case err == nil:
				t.Fatal("no error")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("error %q, want %v", err, tc.is)
			case tc.is == nil && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Only cpuprobe's stretch lines count; its summary lines are skipped.
func TestReadStretches(t *testing.T) {
	in := `slice 21.4µs at best; 9284 slices, 478 of them more than 3x slower
40703.137  second: median speed  86 %,    4 of  940 slices slow
40704.246   40.8 ms   30 slow slices, the slowest 600.087µs
40704.100    0.1 ms    1 slow slices, the slowest 85.201µs
`
	got, err := readStretches(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].from != 40704.100 || got[1].from != 40704.246 {
		t.Fatalf("got %+v, want the two stretches in time order", got)
	}
	if d := got[1].to - (40704.246 + 0.0408); d > 1e-9 || d < -1e-9 {
		t.Errorf("second stretch ends at %v, want 40704.2868", got[1].to)
	}
}

func TestIntersect(t *testing.T) {
	a := []span{{1, 3}, {5, 8}, {10, 11}}
	b := []span{{2, 6}, {7, 12}}
	got := intersect(a, b)
	want := []span{{2, 3}, {5, 6}, {7, 8}, {10, 11}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
	if got := intersect(a, nil); len(got) != 0 {
		t.Errorf("intersect with nothing: %v", got)
	}
}

func TestInside(t *testing.T) {
	s := []span{{1, 2}, {4, 5}}
	for _, tc := range []struct {
		t    float64
		want bool
	}{{0.5, false}, {1, true}, {1.5, true}, {2, true}, {3, false}, {4, true}, {5.1, false}} {
		if got := inside(s, tc.t); got != tc.want {
			t.Errorf("inside(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// The report counts the alerts sent inside a stretch and those of them
// over the limit, against all alerts.
func TestReport(t *testing.T) {
	alerts, err := readDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	// One stretch over the second alert's send time only.
	report(&sb, alerts, []span{{101.501, 101.505}}, 25*time.Millisecond)
	got := sb.String()
	for _, want := range []string{
		"3 alerts: p50 30ms, p99 40ms; 2 (66.67 %) over 25ms",
		"(1 stretches)",
		"sent inside those stretches: 1 alerts (33.33 %), 1 of them over 25ms (33.33 % of all alerts)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
