package stack_test

import (
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
)

// BenchmarkPartnerBatch500 measures how long the partner endpoint takes to
// answer 200 for a signed batch of 500 matches: signature check, sealing
// and fingerprinting 500 tokens, and 500 publishes acknowledged by
// JetStream (fsync always), with the responders running.
//
//	go test -run '^$' -bench PartnerBatch500 -benchtime 20x ./cmd/firebreak/internal/stack
func BenchmarkPartnerBatch500(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	st, err := stack.Start(context.Background(), stack.Options{DataDir: b.TempDir(), Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i], _ = partnerBody(500, "acme_api_token")
	}
	// Warm the key cache.
	warm, _ := partnerBody(1, "acme_api_token")
	if code, _, _ := st.PostPartner(context.Background(), warm); code != http.StatusOK {
		b.Fatalf("warm-up: %d", code)
	}
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		code, resp, err := st.PostPartner(context.Background(), bodies[i])
		durs = append(durs, time.Since(t0))
		if err != nil || code != http.StatusOK {
			b.Fatalf("batch %d: %d %s %v", i, code, resp, err)
		}
	}
	b.StopTimer()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[(len(durs)*95)/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max-ms")
}
