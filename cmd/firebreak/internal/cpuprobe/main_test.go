package main

import (
	"testing"
	"time"
)

// Slow slices less than the gap apart form one stretch, from the first's
// start to the last's end; a larger gap starts another.
func TestStretches(t *testing.T) {
	ms := time.Millisecond
	all := []slice{
		{at: 1.000, took: 20 * time.Microsecond},
		{at: 1.001, took: 300 * time.Microsecond},
		{at: 1.003, took: 250 * time.Microsecond},
		{at: 1.010, took: 400 * time.Microsecond},
		{at: 1.011, took: 21 * time.Microsecond},
		{at: 1.500, took: 260 * time.Microsecond},
	}
	slow := slower(all, 200*time.Microsecond)
	if len(slow) != 4 {
		t.Fatalf("slower kept %d slices, want 4", len(slow))
	}
	got := stretches(slow, 20*ms)
	if len(got) != 2 {
		t.Fatalf("got %d stretches, want 2: %+v", len(got), got)
	}
	first := got[0]
	if first.from != 1.001 || first.slices != 3 || first.worst != 400*time.Microsecond {
		t.Errorf("first stretch %+v, want from 1.001 with 3 slices, the slowest 400µs", first)
	}
	if want := 9400 * time.Microsecond; first.length < want-time.Microsecond || first.length > want+time.Microsecond {
		t.Errorf("first stretch lasts %v, want %v (1.001 to 1.0104)", first.length, want)
	}
	if second := got[1]; second.from != 1.5 || second.slices != 1 || second.length != 260*time.Microsecond {
		t.Errorf("second stretch %+v, want one slice of 260µs at 1.5", second)
	}
}

// calibrate finds a step count whose spin takes at least the asked time.
func TestCalibrate(t *testing.T) {
	n := calibrate(50 * time.Microsecond)
	start := time.Now()
	spin(n)
	if d := time.Since(start); d < 20*time.Microsecond {
		t.Errorf("spin(%d) took %v; calibrate asked for at least 50µs", n, d)
	}
}

// Each whole second from the first slice is summarised on its own: the
// median slice's speed against the fastest, and its slow slices; a second
// without slices is left out.
func TestBySecond(t *testing.T) {
	us := time.Microsecond
	all := []slice{
		{at: 10.0, took: 20 * us},
		{at: 10.4, took: 20 * us},
		{at: 10.8, took: 300 * us},
		{at: 11.1, took: 40 * us},
		{at: 11.5, took: 40 * us},
		{at: 11.9, took: 250 * us},
		{at: 13.2, took: 20 * us},
	}
	got := bySecond(all, 20*us, 200*us)
	want := []second{
		{from: 10.0, slices: 3, slow: 1, speed: 1},
		{from: 11.1, slices: 3, slow: 1, speed: 0.5},
		{from: 13.2, slices: 1, slow: 0, speed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d seconds, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("second %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
