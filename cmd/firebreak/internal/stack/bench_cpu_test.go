package stack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
)

// cpuSplit divides the benchmark process's CPU time by who spent it, from a
// CPU profile of the measured interval and the goroutines' pprof label
// "part": "emulator" (set by stack.Start on the emulators' servers),
// "sender" and "fixture" (the benchmark's webhook senders and the keys and
// alerts they create), "bench" (the benchmark's own loop), "gc-background"
// (the runtime's unlabelled background mark workers) and "firebreak":
// everything else, that is Firebreak with its embedded nats-server.
//
// Enabled by BENCH_CPU_SPLIT=1; BENCH_CPU_SPLIT=FILE also writes the
// interval's profile to FILE (go tool pprof -tagignore
// part=emulator,sender,bench,fixture FILE shows Firebreak's part alone). It
// needs the CPU profiler, so it is skipped when the run was started with
// -cpuprofile.
type cpuSplit struct {
	buf     bytes.Buffer
	file    string
	stopped bool
}

func startCPUSplit(b *testing.B) *cpuSplit {
	v := os.Getenv("BENCH_CPU_SPLIT")
	if v == "" || b.N < 100 { // not the 1-iteration warm-up
		return nil
	}
	s := &cpuSplit{}
	if v != "1" {
		s.file = v
	}
	if err := pprof.StartCPUProfile(&s.buf); err != nil {
		b.Logf("BENCH_CPU_SPLIT skipped: %v", err)
		return nil
	}
	b.Cleanup(s.stop) // also when the benchmark fails before report
	return s
}

func (s *cpuSplit) stop() {
	if !s.stopped {
		pprof.StopCPUProfile()
		s.stopped = true
	}
}

// report stops the profile and reports each part's share of cpu (the
// process's CPU time over the interval, from getrusage) per exposure.
func (s *cpuSplit) report(b *testing.B, cpu time.Duration, exposures int) {
	if s == nil {
		return
	}
	s.stop()
	if s.file != "" {
		if err := os.WriteFile(s.file, s.buf.Bytes(), 0o600); err != nil {
			b.Fatalf("BENCH_CPU_SPLIT: %v", err)
		}
	}
	parts, err := cpuByPart(bytes.NewReader(s.buf.Bytes()))
	if err != nil {
		b.Fatalf("BENCH_CPU_SPLIT: %v", err)
	}
	var total int64
	for _, v := range parts {
		total += v
	}
	if total == 0 {
		b.Logf("BENCH_CPU_SPLIT: the profile holds no samples")
		return
	}
	perExposure := func(part string) float64 {
		return float64(cpu.Microseconds()) / 1000 * float64(parts[part]) / float64(total) / float64(exposures)
	}
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	var line []string
	for _, name := range names {
		line = append(line, fmt.Sprintf("%s=%.2f", name, perExposure(name)))
	}
	b.Logf("CPU ms per exposure by part: %s", strings.Join(line, " "))
	// Background GC is counted as Firebreak's: an upper bound on its cost.
	own := perExposure("firebreak") + perExposure("gc-background")
	b.ReportMetric(own, "firebreak_cpu_ms/exposure")
	b.Logf("Firebreak with its embedded nats-server (and all background GC): %.2f ms of CPU per exposure, %.0f exposures/s if it had the %d cores to itself",
		own, 1000*float64(runtime.GOMAXPROCS(0))/own, runtime.GOMAXPROCS(0))
}

// cpuByPart sums a CPU profile's samples (nanoseconds) by part, as cpuSplit
// describes.
func cpuByPart(r io.Reader) (map[string]int64, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, err
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("no cpu sample type in the profile")
	}
	parts := map[string]int64{}
	for _, smp := range p.Sample {
		part := "firebreak"
		if l := smp.Label["part"]; len(l) > 0 {
			part = l[0]
		} else if inFunction(smp, "runtime.gcBgMarkWorker") {
			part = "gc-background"
		}
		parts[part] += smp.Value[idx]
	}
	return parts, nil
}

func inFunction(smp *profile.Sample, name string) bool {
	for _, loc := range smp.Location {
		for _, line := range loc.Line {
			if line.Function != nil && line.Function.Name == name {
				return true
			}
		}
	}
	return false
}

// TestCPUSplitTellsEmulatorsFromFirebreak: the emulators' connections carry
// the pprof label stack.Start gives their servers, so cpuSplit charges their
// work to them, the senders' to the senders, and Firebreak's own HTTP server
// (unlabelled) to Firebreak.
func TestCPUSplitTellsEmulatorsFromFirebreak(t *testing.T) {
	e := start(t, stack.Options{})
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("the CPU profiler is in use: %v", err)
	}
	ctx := context.Background()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("part", "sender"), func(context.Context) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				for _, u := range []string{e.OpenAI.URL() + "/v1/me", e.URL + "/healthz"} {
					if resp, err := client.Get(u); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		})
	}
	wg.Wait()
	pprof.StopCPUProfile()
	parts, err := cpuByPart(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"emulator", "sender", "firebreak"} {
		if parts[part] == 0 {
			t.Errorf("no CPU charged to %s: %v", part, parts)
		}
	}
}
