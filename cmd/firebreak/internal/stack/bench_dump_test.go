package stack_test

import (
	"context"
	"fmt"
	"os"
	"runtime/trace"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/firebreak-sec/firebreak/responders/incident"
)

// BENCH_DUMP=FILE makes a latency run write one line per measured alert to
// FILE: when it was sent and when each part of its path was reached, so that
// a slow alert can be placed (received by the webhook, its secret fetched,
// verified, revoked). The GitHub emulator then also keeps its alert reads,
// which it otherwise drops. With BENCH_PROCESS=1 the incidents live in the
// serve process, so only the send and the DELETE are known; the marks in
// between are "-".

// markStart records the measured interval's start where other tools can
// line it up: a runtime/trace log ("bench", "start"; nothing when the run
// is not traced) and, with BENCH_DUMP, CLOCK_MONOTONIC (the clock of `perf
// record -k CLOCK_MONOTONIC` and of cpuprobe) in the test log. It returns
// that reading for the dump's header, "" when there is none.
func markStart(ctx context.Context, b *testing.B) string {
	trace.Log(ctx, "bench", "start")
	if os.Getenv("BENCH_DUMP") == "" {
		return ""
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return ""
	}
	mono := fmt.Sprintf("%d.%09d", ts.Sec, ts.Nsec)
	b.Logf("measured interval starts at CLOCK_MONOTONIC %s", mono)
	return mono
}

// dumpAlerts writes the BENCH_DUMP file for the alerts measured (leaks[warm:]);
// mono is start on CLOCK_MONOTONIC (markStart), which cmd/firebreak/internal/stallmatch
// reads from the header to line the alerts up with cpuprobe's reports.
func dumpAlerts(b *testing.B, tgt *benchTarget, start time.Time, mono string, leaks []*leak, warm int) {
	path := os.Getenv("BENCH_DUMP")
	if path == "" {
		return
	}
	type marks struct{ received, verifyStart, verifyEnd, revokeStart time.Time }
	byKey := map[string]marks{} // by the revoked key's id
	var list []*incident.Incident
	if tgt.st != nil {
		var err error
		if list, err = tgt.st.App.Incidents.List(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, in := range list {
		m := marks{received: in.FirstReceivedAt}
		key := ""
		for _, s := range in.Steps {
			if s.StartedAt == nil || s.EndedAt == nil {
				continue
			}
			switch s.ID {
			case "verify":
				m.verifyStart, m.verifyEnd = *s.StartedAt, *s.EndedAt
			case "revoke":
				m.revokeStart = *s.StartedAt
				key, _ = s.Outputs["key_id"].(string)
			}
		}
		byKey[key] = m
	}
	// GitHub reads per alert (leak.alert), in order: the alert, then its
	// locations.
	reads := map[string][]time.Time{}
	const mid = "/secret-scanning/alerts/"
	for _, q := range tgt.GitHub.Server().Requests() {
		if i := strings.Index(q.Path, mid); i >= 0 {
			n, _, _ := strings.Cut(q.Path[i+len(mid):], "/")
			alert := strings.TrimPrefix(q.Path[:i], "/repos/") + "#" + n
			reads[alert] = append(reads[alert], q.At)
		}
	}
	deleted := revokeTimes(tgt)
	var sb strings.Builder
	if mono != "" {
		fmt.Fprintf(&sb, "# start CLOCK_MONOTONIC %s\n", mono)
	}
	sb.WriteString("# alert sent_ms | ms after sending: received fetched located verify_start verify_end revoke_start deleted (- when not reached)\n")
	for i := warm; i < len(leaks); i++ {
		l := leaks[i]
		m := byKey[l.keyID]
		r := reads[l.alert]
		at := func(k int) time.Time {
			if k < len(r) {
				return r[k]
			}
			return time.Time{}
		}
		fmt.Fprintf(&sb, "%d %.1f", i, msSince(start, l.sent))
		for _, t := range []time.Time{m.received, at(0), at(1), m.verifyStart, m.verifyEnd, m.revokeStart, deleted[l.keyID]} {
			if t.IsZero() {
				sb.WriteString(" -")
				continue
			}
			fmt.Fprintf(&sb, " %.2f", msSince(l.sent, t))
		}
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

func msSince(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }
