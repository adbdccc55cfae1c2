// Command stallmatch lines up a latency run's alerts with the CPU stalls
// cpuprobe saw during it: how much of the run every probed CPU spent in a
// slow stretch at once, how many alerts were sent inside those stretches,
// and how many of those took longer than -limit to be revoked. If the
// alerts sent inside stretches and slower than the limit are more than 1 %
// of all, no pipeline on that machine can hold a p99 under the limit.
//
//	BENCH_DUMP=/tmp/d.txt /tmp/stack.test -test.run '^$' -test.bench 'WebhookToRevoke/fsync=always$' ... &
//	taskset -c 0 chrt -f 50 /tmp/cpuprobe -ratio 3 -seconds 80 >/tmp/p0.txt &
//	taskset -c 1 chrt -f 50 /tmp/cpuprobe -ratio 3 -seconds 80 >/tmp/p1.txt
//	stallmatch -dump /tmp/d.txt /tmp/p0.txt /tmp/p1.txt
//
// The dump (cmd/firebreak/internal/stack, bench_dump_test.go) gives each
// alert's send time in ms after the run's start, whose CLOCK_MONOTONIC
// reading its header holds, and its DELETE's time after sending; cpuprobe
// gives stretches on CLOCK_MONOTONIC.
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	dump := flag.String("dump", "", "the latency run's BENCH_DUMP file")
	limit := flag.Duration("limit", 25*time.Millisecond, "the latency an alert must stay within")
	flag.Parse()
	if *dump == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: stallmatch -dump FILE [-limit 25ms] PROBE-REPORT...")
		os.Exit(2)
	}
	if err := run(os.Stdout, *dump, flag.Args(), *limit); err != nil {
		fmt.Fprintln(os.Stderr, "stallmatch:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, dumpPath string, probePaths []string, limit time.Duration) error {
	f, err := os.Open(dumpPath)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := readDump(f)
	if err != nil {
		return fmt.Errorf("%s: %w", dumpPath, err)
	}
	var all []span
	for i, p := range probePaths {
		pf, err := os.Open(p)
		if err != nil {
			return err
		}
		s, err := readStretches(pf)
		pf.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if i == 0 {
			all = s
		} else {
			all = intersect(all, s)
		}
	}
	report(w, d, all, limit)
	return nil
}

// span is an interval on CLOCK_MONOTONIC, in seconds.
type span struct{ from, to float64 }

// alert is one measured alert: when it was sent (CLOCK_MONOTONIC seconds)
// and how long until its revocation reached the provider.
type alert struct {
	sent    float64
	latency time.Duration
}

// errNoStart reports a dump without the "# start CLOCK_MONOTONIC" header
// (one written before the header existed, or by a run without BENCH_DUMP's
// clock reading).
var errNoStart = errors.New(`no "# start CLOCK_MONOTONIC" line`)

// readDump reads a BENCH_DUMP file. Alerts never revoked ("-" as the last
// column) are left out.
func readDump(r io.Reader) ([]alert, error) {
	var start float64
	var out []alert
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# start CLOCK_MONOTONIC "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: start: %w", n, err)
			}
			start = v
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %d fields, want the alert, its send time and at least one mark", n, len(f))
		}
		if start == 0 {
			return nil, errNoStart
		}
		if f[len(f)-1] == "-" {
			continue
		}
		sent, err1 := strconv.ParseFloat(f[1], 64)
		deleted, err2 := strconv.ParseFloat(f[len(f)-1], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, alert{sent: start + sent/1000, latency: time.Duration(deleted * float64(time.Millisecond))})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if start == 0 {
		return nil, errNoStart
	}
	return out, nil
}

// readStretches reads cpuprobe's stretch lines ("40397.449   41.5 ms  32
// slow slices, ..."), skipping its other lines.
func readStretches(r io.Reader) ([]span, error) {
	var out []span
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[2] != "ms" {
			continue
		}
		at, err1 := strconv.ParseFloat(f[0], 64)
		ms, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, span{at, at + ms/1000})
	}
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	return out, sc.Err()
}

// intersect returns the intervals covered by both a and b (each sorted and
// without overlaps within itself).
func intersect(a, b []span) []span {
	var out []span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].from, b[j].from), min(a[i].to, b[j].to)
		if lo < hi {
			out = append(out, span{lo, hi})
		}
		if a[i].to < b[j].to {
			i++
		} else {
			j++
		}
	}
	return out
}

// inside reports whether t falls in one of spans (sorted, not overlapping).
func inside(spans []span, t float64) bool {
	i, found := slices.BinarySearchFunc(spans, t, func(s span, t float64) int { return cmp.Compare(s.from, t) })
	// Otherwise spans[i-1] is the last to start before t.
	return found || i > 0 && t <= spans[i-1].to
}

// report writes the run's percentiles, the share of its time inside the
// stretches and the alerts sent inside them.
func report(w io.Writer, alerts []alert, stalls []span, limit time.Duration) {
	if len(alerts) == 0 {
		fmt.Fprintln(w, "no revoked alerts in the dump")
		return
	}
	lat := make([]time.Duration, len(alerts))
	over := 0
	for i, a := range alerts {
		lat[i] = a.latency
		if a.latency > limit {
			over++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	fmt.Fprintf(w, "%d alerts: p50 %v, p99 %v; %d (%.2f %%) over %v\n",
		len(alerts), pct(0.50), pct(0.99), over, share(over, len(alerts)), limit)

	first, last := alerts[0].sent, alerts[0].sent
	for _, a := range alerts {
		first, last = min(first, a.sent), max(last, a.sent)
	}
	var stalled float64
	n := 0
	for _, s := range stalls {
		if lo, hi := max(s.from, first), min(s.to, last); lo < hi {
			stalled += hi - lo
			n++
		}
	}
	in, inOver := 0, 0
	for _, a := range alerts {
		if inside(stalls, a.sent) {
			in++
			if a.latency > limit {
				inOver++
			}
		}
	}
	fmt.Fprintf(w, "every probed CPU slow at once: %.1f %% of the run (%d stretches)\n", 100*stalled/max(last-first, 1e-9), n)
	fmt.Fprintf(w, "sent inside those stretches: %d alerts (%.2f %%), %d of them over %v (%.2f %% of all alerts)\n",
		in, share(in, len(alerts)), inOver, limit, share(inOver, len(alerts)))
}

func share(k, n int) float64 { return 100 * float64(k) / float64(n) }
