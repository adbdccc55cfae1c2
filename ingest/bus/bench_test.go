package bus_test

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
)

// BenchmarkPublishDurable measures what the fsync policy costs an ingester:
// the time from publishing an exposure to JetStream's acknowledgement, one at
// a time (latency, p50/p99) and from 64 concurrent publishers (throughput),
// under "always" (fsync before every ack), "1s", and nats-server's own
// default of "2m".
func BenchmarkPublishDurable(b *testing.B) {
	for _, sync := range []string{"always", "1s", "2m"} {
		b.Run("fsync="+sync+"/sequential", func(b *testing.B) {
			bb := bustest.Run(b, bustest.WithSync(sync))
			p := &bus.Publisher{JS: bb.JS}
			lat := make([]time.Duration, 0, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := sample()
				start := time.Now()
				if _, err := p.Publish(ctx, e, fmt.Sprintf("seq-%d", i)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99_µs")
		})
		b.Run("fsync="+sync+"/parallel64", func(b *testing.B) {
			bb := bustest.Run(b, bustest.WithSync(sync))
			p := &bus.Publisher{JS: bb.JS}
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(32) // 2 CPUs × 32 = 64 publishers
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := p.Publish(ctx, sample(), fmt.Sprintf("par-%d", n.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exposures/s")
		})
	}
}
