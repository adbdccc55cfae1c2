package logsink

import (
	"testing"
	"time"
)

// Once full, hecAcks forgets idle channels first, then the least recently
// used one; a forgotten channel's ids read as not acknowledged.
func TestHECAcksForgetIdleThenOldestChannels(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newHECAcks()
	a.max, a.idle, a.now = 3, time.Minute, func() time.Time { return now }
	step := func(d time.Duration) { now = now.Add(d) }
	a.issue("old") // used at t0, idle by the time the table fills
	step(2 * time.Minute)
	a.issue("b")
	a.issue("b")
	step(time.Second)
	a.issue("c")
	step(time.Second)
	a.acked("b", nil) // a query counts as use: b is now newer than c
	step(time.Second)
	if id := a.issue("d"); id != 0 { // full: "old" (idle) goes
		t.Fatalf("first id on d: %d", id)
	}
	if got := a.acked("old", []uint64{0}); got["0"] {
		t.Fatal("an evicted channel still acknowledges")
	}
	step(time.Second)
	a.issue("e") // full, none idle: the least recently used (c) goes
	want := map[string]bool{"b": true, "c": false, "d": true, "e": true}
	for ch, ok := range want {
		if got := a.acked(ch, []uint64{0})["0"]; got != ok {
			t.Errorf("%s: acked %v, want %v", ch, got, ok)
		}
	}
	if got := a.acked("b", []uint64{1, 2}); !got["1"] || got["2"] {
		t.Fatalf("b's ids: %v", got)
	}
}
