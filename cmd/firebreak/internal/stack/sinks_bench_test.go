package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// BenchmarkLogLineToExposure measures, per log sink, the time from a shipper
// sending a batch of 100 log lines (one of them carrying a fresh Anthropic
// key) to the exposure being published: for the HTTP sinks, to the 2xx
// answer, which Firebreak sends only after JetStream acknowledged (and, with
// fsync=always, fsynced) the exposure; for syslog, which has no answer, to the
// exposure's arrival on a NATS subscription. Batches are sent open-loop at a
// fixed rate (100/s: 10,000 log lines/s) whatever the latency, so queueing
// shows up in the tail. b.N batches (use -benchtime=2000x for 20 s).
func BenchmarkLogLineToExposure(b *testing.B) {
	for _, sink := range []string{"loki", "loki-protobuf", "hec", "logs", "syslog"} {
		b.Run(sink, func(b *testing.B) { benchSink(b, sink, 100) })
	}
}

const benchLines = 100

func benchBatch(sink, key string, i int) []byte {
	var sb strings.Builder
	line := func(j int) string {
		if j == benchLines/2 {
			return fmt.Sprintf(`level=error msg="upstream rejected key" api_key=%s req=%d`, key, i)
		}
		return fmt.Sprintf(`level=info msg="GET /v1/items/%d" status=200 duration=%dms trace_id=%032x`, j, j%50, i*benchLines+j)
	}
	switch sink {
	case "loki":
		sb.WriteString(`{"streams":[{"stream":{"app":"bench","env":"prod"},"values":[`)
		for j := 0; j < benchLines; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			l, _ := json.Marshal(line(j))
			fmt.Fprintf(&sb, `["%d",%s]`, time.Now().UnixNano(), l)
		}
		sb.WriteString(`]}]}`)
	case "loki-protobuf": // as Promtail and Grafana Alloy send it
		st := lokitest.Stream{Labels: `{app="bench", env="prod"}`}
		for j := 0; j < benchLines; j++ {
			now := time.Now().UnixNano()
			st.Entries = append(st.Entries, lokitest.Entry{Sec: now / 1e9, Nanos: now % 1e9, Line: line(j)})
		}
		return lokitest.Push(st)
	case "hec":
		for j := 0; j < benchLines; j++ {
			l, _ := json.Marshal(line(j))
			fmt.Fprintf(&sb, `{"host":"bench-%d","sourcetype":"app","event":%s}`, i%8, l)
		}
	case "logs":
		for j := 0; j < benchLines; j++ {
			l, _ := json.Marshal(line(j))
			fmt.Fprintf(&sb, `{"service":"bench","msg":%s}`+"\n", l)
		}
	case "syslog":
		for j := 0; j < benchLines; j++ {
			m := fmt.Sprintf("<134>1 %s bench-host bench 42 - - %s", time.Now().UTC().Format(time.RFC3339Nano), line(j))
			fmt.Fprintf(&sb, "%d %s", len(m), m)
		}
	}
	return []byte(sb.String())
}

func benchSink(b *testing.B, sink string, rate int) {
	st, err := stack.Start(context.Background(), stack.Options{DataDir: b.TempDir(), Concurrency: 64, FSync: os.Getenv("BENCH_FSYNC"),
		Configure: func(c *config.Config) {
			c.Ingest.Syslog.Listen = "127.0.0.1:0"
			if os.Getenv("BENCH_RESPONDERS") == "off" {
				off := false
				c.Responders.Enabled = &off
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	tok, err := st.IngestToken()
	if err != nil {
		b.Fatal(err)
	}
	type req struct {
		key, fp string
		body    []byte
		sent    time.Time
		done    time.Duration
	}
	reqs := make([]*req, b.N)
	for i := range reqs {
		k := anthropicKey()
		reqs[i] = &req{key: k, fp: st.App.Keyring.Fingerprint(secret.New(k)), body: benchBatch(sink, k, i)}
	}
	byFP := map[string]*req{}
	for _, r := range reqs {
		byFP[r.fp] = r
	}
	// Exposure arrivals (all sinks; the latency of syslog, a check for the rest).
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	sub, err := st.App.Conn.Subscribe("firebreak.exposures.>", func(m *nats.Msg) {
		at := time.Now()
		var e struct {
			Secret struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"secret"`
		}
		if json.Unmarshal(m.Data, &e) == nil {
			mu.Lock()
			if _, ok := arrived[e.Secret.Fingerprint]; !ok {
				arrived[e.Secret.Fingerprint] = at
			}
			mu.Unlock()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	var conn net.Conn
	if sink == "syslog" {
		if conn, err = net.Dial("tcp", st.App.Syslog.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
	}
	path, headers := map[string]string{"loki": "/loki/api/v1/push", "loki-protobuf": "/loki/api/v1/push", "hec": "/services/collector/event",
		"logs": "/v1/ingest/logs"}[sink], []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}
	switch sink {
	case "hec":
		headers[1] = "Splunk " + tok
	case "loki-protobuf":
		headers[3] = "application/x-protobuf"
	}
	ctx := context.Background()
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for i, r := range reqs {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if sink == "syslog" {
			r.sent = time.Now()
			if _, err := conn.Write(r.body); err != nil {
				b.Fatal(err)
			}
			continue
		}
		wg.Add(1)
		go func(r *req) {
			defer wg.Done()
			r.sent = time.Now()
			code, _, err := st.Post(ctx, path, r.body, headers...)
			r.done = time.Since(r.sent)
			if err != nil || code >= 300 {
				failed.Add(1)
			}
		}(r)
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= b.N || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, r := range reqs {
		at, ok := arrived[r.fp]
		if !ok {
			continue
		}
		if sink == "syslog" {
			lat = append(lat, at.Sub(r.sent))
		} else {
			lat = append(lat, r.done)
		}
	}
	if len(lat) != b.N || failed.Load() > 0 {
		b.Fatalf("%d of %d exposures published, %d requests failed", len(lat), b.N, failed.Load())
	}
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(percentile(lat, 1).Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(b.N*benchLines)/time.Since(start).Seconds(), "lines/s")
	_ = http.StatusOK
}
