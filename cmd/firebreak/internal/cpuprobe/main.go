// Command cpuprobe measures whether the machine's CPUs keep their speed: every
// millisecond it times a fixed slice of arithmetic (~20 µs on an idle core)
// and reports the stretches in which that slice ran at least -ratio (ten)
// times slower than its fastest. Run it at a real-time priority, pinned to one
// CPU, so that no other process can take its CPU away and a slow slice can
// only mean the CPU itself was slowed or taken (by the hypervisor, or
// interrupts):
//
//	go build -o /tmp/cpuprobe ./cmd/firebreak/internal/cpuprobe
//	taskset -c 0 chrt -f 50 /tmp/cpuprobe -seconds 10 &
//	taskset -c 1 chrt -f 50 /tmp/cpuprobe -seconds 10
//
// With -each-second it also prints, for every second, the median slice's
// speed as a share of the fastest and how many slices were slow: a CPU
// that loses speed for whole seconds (a busy neighbour on the host) shows
// there, where the stretches only show the deep dips.
//
// Times are CLOCK_MONOTONIC seconds, the clock of `perf record -k
// CLOCK_MONOTONIC` and of the latency benchmark's BENCH_DUMP start mark
// (BENCHMARKS.md, "Fourteenth pass").
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	seconds := flag.Int("seconds", 10, "how long to probe")
	ratio := flag.Int("ratio", 10, "how many times slower than its fastest a slice must run to count as slow")
	eachSecond := flag.Bool("each-second", false, "also print each second's median speed and slow slices")
	flag.Parse()
	if *seconds < 1 {
		fmt.Fprintln(os.Stderr, "cpuprobe: -seconds must be at least 1")
		os.Exit(2)
	}
	if *ratio < 2 {
		fmt.Fprintln(os.Stderr, "cpuprobe: -ratio must be at least 2")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()

	n := calibrate(20 * time.Microsecond)
	var best time.Duration = 1 << 62
	var all []slice
	end := time.Now().Add(time.Duration(*seconds) * time.Second)
	for time.Now().Before(end) {
		start, t := monotonic(), time.Now()
		spin(n)
		d := time.Since(t)
		best = min(best, d)
		all = append(all, slice{at: start, took: d})
		time.Sleep(time.Millisecond)
	}
	limit := time.Duration(*ratio) * best
	slow := slower(all, limit)
	fmt.Printf("slice %v at best; %d slices, %d of them more than %dx slower\n", best, len(all), len(slow), *ratio)
	if *eachSecond {
		for _, s := range bySecond(all, best, limit) {
			fmt.Printf("%.3f  second: median speed %3.0f %%, %4d of %4d slices slow\n", s.from, s.speed*100, s.slow, s.slices)
		}
	}
	for _, s := range stretches(slow, 20*time.Millisecond) {
		fmt.Printf("%.3f  %5.1f ms  %3d slow slices, the slowest %v\n", s.from, s.length.Seconds()*1000, s.slices, s.worst)
	}
}

// slice is one timed slice of work: when it started (CLOCK_MONOTONIC
// seconds) and how long it took.
type slice struct {
	at   float64
	took time.Duration
}

// stretch is a run of slow slices with less than a gap between them.
type stretch struct {
	from   float64
	length time.Duration
	slices int
	worst  time.Duration
}

// second summarises the slices of one whole second of the probe's run.
type second struct {
	from   float64 // when its first slice started
	slices int
	slow   int     // slices that took longer than the limit
	speed  float64 // the fastest slice's time over the median's: 1 at full speed
}

// bySecond groups slices (in time order) into whole seconds from the first
// slice's start and summarises each against the run's fastest slice.
func bySecond(all []slice, best, limit time.Duration) []second {
	var out []second
	var took []time.Duration
	flush := func() {
		if len(took) == 0 {
			return
		}
		slices.Sort(took)
		k := len(out) - 1
		out[k].slices = len(took)
		out[k].speed = best.Seconds() / took[len(took)/2].Seconds()
		took = took[:0]
	}
	cur := -1
	for _, s := range all {
		if n := int(s.at - all[0].at); n != cur {
			flush()
			cur = n
			out = append(out, second{from: s.at})
		}
		took = append(took, s.took)
		if s.took > limit {
			out[len(out)-1].slow++
		}
	}
	flush()
	return out
}

// slower keeps the slices that took longer than limit.
func slower(all []slice, limit time.Duration) []slice {
	var out []slice
	for _, s := range all {
		if s.took > limit {
			out = append(out, s)
		}
	}
	return out
}

// stretches groups slow slices (in time order) that start less than gap
// apart.
func stretches(slow []slice, gap time.Duration) []stretch {
	var out []stretch
	for _, s := range slow {
		end := s.at + s.took.Seconds()
		if k := len(out) - 1; k >= 0 && s.at-(out[k].from+out[k].length.Seconds()) < gap.Seconds() {
			out[k].length = time.Duration((end - out[k].from) * float64(time.Second))
			out[k].slices++
			out[k].worst = max(out[k].worst, s.took)
			continue
		}
		out = append(out, stretch{from: s.at, length: s.took, slices: 1, worst: s.took})
	}
	return out
}

var sink uint64

// spin does n steps of a linear congruential generator: pure CPU, no memory.
func spin(n int) {
	x := sink
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

// calibrate returns a step count whose spin takes at least d.
func calibrate(d time.Duration) int {
	n := 1000
	for {
		t := time.Now()
		spin(n)
		if time.Since(t) >= d {
			return n
		}
		n *= 2
	}
}

func monotonic() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
