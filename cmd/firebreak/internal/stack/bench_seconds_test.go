package stack_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// diskSampler samples the kernel's dirty and under-writeback page cache
// (/proc/meminfo) every 100 ms while a latency run sends, keeping each
// second's largest values: a tail that lines up with the kernel's periodic
// writeback is the disk's, not Firebreak's. It samples only when
// BENCH_SECONDS asks for the per-second report (it would otherwise be work
// in the measured process), and nothing where /proc/meminfo cannot be read.
type diskSampler struct {
	start time.Time
	stop  chan struct{}
	done  sync.WaitGroup

	mu        sync.Mutex
	dirty     map[int]int // second → largest Dirty, KiB
	writeback map[int]int // second → largest Writeback, KiB
}

func startDiskSampler(start time.Time) *diskSampler {
	d := &diskSampler{start: start, stop: make(chan struct{}), dirty: map[int]int{}, writeback: map[int]int{}}
	if os.Getenv("BENCH_SECONDS") == "" {
		return d
	}
	if _, _, ok := readMeminfo(); !ok {
		return d
	}
	d.done.Add(1)
	go func() {
		defer d.done.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case now := <-t.C:
				dirty, wb, ok := readMeminfo()
				if !ok {
					continue
				}
				s := int(now.Sub(d.start) / time.Second)
				d.mu.Lock()
				d.dirty[s] = max(d.dirty[s], dirty)
				d.writeback[s] = max(d.writeback[s], wb)
				d.mu.Unlock()
			}
		}
	}()
	return d
}

// Stop ends the sampling.
func (d *diskSampler) Stop() {
	close(d.stop)
	d.done.Wait()
}

// readMeminfo returns the Dirty and Writeback lines of /proc/meminfo, in KiB.
func readMeminfo() (dirty, writeback int, ok bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch f[0] {
		case "Dirty:":
			dirty, found = v, found+1
		case "Writeback:":
			writeback, found = v, found+1
		}
	}
	return dirty, writeback, found == 2
}

// logSeconds writes to the file BENCH_SECONDS names (nothing when unset)
// each second of the run: the p99 and maximum latency of the alerts sent in
// it, and the largest dirty and under-writeback page cache the sampler saw
// in it. A file, because the benchmark's log keeps only its first lines.
func logSeconds(b *testing.B, start time.Time, sent []time.Time, lat []time.Duration, d *diskSampler) {
	path := os.Getenv("BENCH_SECONDS")
	if path == "" {
		return
	}
	by := map[int][]time.Duration{}
	last := 0
	for i, t := range sent {
		s := int(t.Sub(start) / time.Second)
		by[s] = append(by[s], lat[i])
		last = max(last, s)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\nsecond: p99 / max ms, dirty / writeback MiB", b.Name())
	for s := 0; s <= last; s++ {
		fmt.Fprintf(&sb, "\n%3d: %6.1f / %6.1f ms   %5.1f / %5.1f MiB", s,
			float64(percentile(by[s], 0.99).Microseconds())/1000, float64(percentile(by[s], 1).Microseconds())/1000,
			float64(d.dirty[s])/1024, float64(d.writeback[s])/1024)
	}
	sb.WriteString("\n")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(sb.String()); err != nil {
		b.Fatal(err)
	}
}
