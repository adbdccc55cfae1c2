package cluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTopology measures whole deployments as real processes: the
// embedded default (one `firebreak serve` with its in-process JetStream,
// fsync always), one external nats-server (R1, fsync always) and a
// three-node cluster (R3, nats-server's default sync with replication as the
// durability), each with 1, 2 and 4 `firebreak serve` workers sharing the
// durable consumer (responders.concurrency 16 each). Per configuration:
//
//   - latency: b.N signed alerts open-loop at BENCH_RATE/s (default 50),
//     round-robin over the workers; p50/p99 from sending the webhook to the
//     key's deletion at the OpenAI emulator (which adds 20 ms per call);
//
//   - throughput: b.N more alerts from 64 concurrent senders; revocations/s
//     from the first send to the last deletion;
//
//   - RSS of each firebreak process idle (after start) and its peak.
//
//     go test -run '^$' -bench Topology -benchtime 1000x -timeout 60m ./cmd/firebreak/internal/cluster
func BenchmarkTopology(b *testing.B) {
	rate := float64(envInt("BENCH_RATE", 50))
	type topo struct {
		name string
		opts Options
	}
	var topos []topo
	topos = append(topos, topo{"embedded/workers=1", Options{Embedded: true}})
	for _, w := range []int{1, 2, 4} {
		topos = append(topos, topo{fmt.Sprintf("single-R1/workers=%d", w), Options{NATS: NATSOptions{Nodes: 1, SyncInterval: "always"}, Instances: w}})
	}
	for _, w := range []int{1, 2, 4} {
		topos = append(topos, topo{fmt.Sprintf("cluster-R3/workers=%d", w), Options{NATS: NATSOptions{Nodes: 3}, Instances: w}})
	}
	if v := os.Getenv("BENCH_CLUSTER_SYNC"); v != "" {
		for i := range topos {
			if topos[i].opts.NATS.Nodes == 3 {
				topos[i].opts.NATS.SyncInterval = v
			}
		}
	}
	for _, tp := range topos {
		b.Run(tp.name, func(b *testing.B) {
			o := tp.opts
			o.ProviderLatency = 20 * time.Millisecond
			o.AckWait = 30 * time.Second
			o.LogLevel = "warn"
			h := New(b, o)
			var idle int64
			for i := range h.Instances {
				now, _ := RSS(h.PID(i))
				idle = max(idle, now)
			}
			ctx := context.Background()
			b.ResetTimer()
			leaks, err := h.Send(ctx, Load{Count: b.N, Rate: rate})
			if err != nil {
				b.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			if err := h.WaitRevoked(wctx, leaks); err != nil {
				b.Fatal(err)
			}
			revoked, _ := h.Deletions()
			lat := Latencies(leaks, revoked)

			// Throughput: 64 closed-loop senders.
			more := make([]*Leak, b.N)
			for i := range more {
				more[i] = h.NewLeak(b.N+i, 1)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for s := 0; s < 64; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= len(more) {
							return
						}
						if _, _, err := h.Deliver(ctx, i, fmt.Sprintf("tp-%d", i), more[i].Bodies[0]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := h.WaitRevoked(wctx, more); err != nil {
				b.Fatal(err)
			}
			revoked, _ = h.Deletions()
			var last time.Time
			for _, l := range more {
				if at := revoked[l.KeyID]; at.After(last) {
					last = at
				}
			}
			b.StopTimer()
			var peak int64
			for i := range h.Instances {
				_, p := RSS(h.PID(i))
				peak = max(peak, p)
			}
			b.ReportMetric(float64(Percentile(lat, .5).Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(Percentile(lat, .99).Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64(len(more))/last.Sub(start).Seconds(), "revoked/s")
			b.ReportMetric(float64(idle)/(1<<20), "idle_rss_MiB")
			b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
		})
	}
}
