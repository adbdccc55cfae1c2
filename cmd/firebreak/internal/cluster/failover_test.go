package cluster

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// envInt reads a positive integer from the environment (long runs).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestClusterFailover runs three clustered nats-servers (every stream,
// bucket and the consumer at replicas 3) and three `firebreak serve`
// processes sharing the durable consumer, and sends signed GitHub alerts at a
// steady rate, round-robin over the instances (a refused connection or a 5xx
// is retried on the next instance, like a load balancer). Every fifth key is
// reported by two alerts sent at the same moment to two different instances.
// During the run it SIGKILLs the nats-server leading the responders'
// consumer, brings it back, then SIGKILLs one Firebreak instance.
//
// Afterwards: every delivery was accepted, every key was deleted exactly once
// at the OpenAI emulator, every incident is contained and holds every
// accepted exposure, and per-secret ordering held — from the audit stream, no
// two step attempts of one incident overlapped in time (an attempt left open
// by the killed instance ended when it died, and the resumption began after).
// The pause in revocations around each failure is logged; the figures in
// BENCHMARKS.md come from the long run:
//
//	FIREBREAK_CLUSTER_LEAKS=3000 FIREBREAK_CLUSTER_RATE=50 go test -run TestClusterFailover -v ./cmd/firebreak/internal/cluster
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server and firebreak processes")
	}
	count := envInt("FIREBREAK_CLUSTER_LEAKS", 400)
	rate := float64(envInt("FIREBREAK_CLUSTER_RATE", 20))
	h := New(t, Options{NATS: NATSOptions{Nodes: 3}, Instances: 3, AckWait: 5 * time.Second, ProviderLatency: 20 * time.Millisecond})
	_, js := h.NATS.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Kills at 30%, the nats node back at 55%, the Firebreak kill at 70%.
	var mu sync.Mutex
	events := map[string]time.Time{}
	mark := func(what string) {
		mu.Lock()
		events[what] = time.Now()
		mu.Unlock()
	}
	var killedNode string
	var bg sync.WaitGroup
	at := func(i int) {
		switch i {
		case count * 30 / 100:
			bg.Add(1)
			defer bg.Done()
			leader := consumerLeader(ctx, js)
			idx := h.NATS.Index(leader)
			if idx < 0 {
				t.Errorf("consumer leader %q is not one of ours", leader)
				return
			}
			killedNode = leader
			mark("nats killed")
			h.NATS.Kill(idx)
		case count * 55 / 100:
			bg.Add(1)
			defer bg.Done()
			mu.Lock()
			name := killedNode
			mu.Unlock()
			if idx := h.NATS.Index(name); idx >= 0 {
				h.NATS.Start(t, idx)
				mark("nats restarted")
			}
		case count * 70 / 100:
			bg.Add(1)
			defer bg.Done()
			mark("firebreak killed")
			h.Kill(0) // returns once the process has exited
			mark("firebreak dead")
		}
	}
	start := time.Now()
	leaks, err := h.Send(ctx, Load{Count: count, Rate: rate, DupEvery: 5, At: at})
	if err != nil {
		t.Fatal(err)
	}
	sendEnd := time.Now()
	bg.Wait()
	if err := h.WaitRevoked(ctx, leaks); err != nil {
		t.Fatal(err)
	}
	incs, err := h.WaitSettled(ctx, leaks)
	if err != nil {
		t.Fatal(err)
	}

	// Zero loss, zero double revocation.
	revoked, deletions := h.Deletions()
	for _, l := range leaks {
		if n := deletions[l.KeyID]; n != 1 {
			t.Errorf("leak %d: key %s deleted %d times", l.I, l.KeyID, n)
		}
		if h.OpenAI.Live(l.Raw) {
			t.Errorf("leak %d: key still live", l.I)
		}
		in := incs[h.IncidentID(l)]
		if in.State != incident.Contained {
			t.Errorf("leak %d: incident %s is %s (%s)", l.I, in.ID, in.State, in.Error)
		}
	}

	// Per-secret ordering, from the audit trail.
	recs, err := AuditRecords(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	// The SIGKILL lands a moment after it is sent: the instance's attempts
	// ended, at the latest, when its exit was seen.
	killedAt := events["firebreak dead"]
	mu.Unlock()
	var logs []string
	for _, in := range h.Instances {
		logs = append(logs, in.logPath)
	}
	stops, err := SessionStops(logs...)
	if err != nil {
		t.Fatal(err)
	}
	killedActors, err := Instances(h.Instances[0].logPath)
	if err != nil {
		t.Fatal(err)
	}
	merged, open := 0, 0
	for _, l := range leaks {
		id := h.IncidentID(l)
		ends := map[string][]time.Time{}
		for actor, ts := range stops[id] {
			ends[actor] = append(ends[actor], ts...)
		}
		for _, actor := range killedActors {
			ends[actor] = append(ends[actor], killedAt)
		}
		if err := CheckExclusive(id, recs[id], ends); err != nil {
			t.Error(err)
			for _, r := range recs[id] {
				t.Logf("  %s seq %d %s %s/%s attempt %d by %s at %s", id, r.Seq, r.Kind, r.Playbook, r.Step, r.Attempt, r.Actor, r.At.Format(time.RFC3339Nano))
			}
		}
		for _, r := range recs[id] {
			if r.Kind == audit.KindExposureMerged {
				merged++
			}
		}
		for _, iv := range StepIntervals(recs[id]) {
			if iv.Open {
				open++
			}
		}
	}
	t.Logf("per-secret ordering: %d incidents checked; step attempts without a recorded outcome (bounded by a kill or a logged stop): %d", len(leaks), open)
	if merged == 0 {
		t.Error("no second report of a key was merged into its incident: the same-key reports never met")
	}

	// The cluster-only metric the dashboard and alert rules use.
	if resp, err := http.Get("http://" + h.Instances[1].Addr + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `firebreak_stream_replicas{state="current",stream="FIREBREAK_EXPOSURES"}`) {
			t.Error("/metrics on a cluster lacks firebreak_stream_replicas for FIREBREAK_EXPOSURES")
		}
	}

	// The figures (logged, not asserted).
	lat := Latencies(leaks, revoked)
	attempts := 0
	for _, l := range leaks {
		attempts += l.Attempts - len(l.Bodies)
	}
	t.Logf("%d keys (%d reported twice) at %.0f/s over %s; deliveries retried on another instance or after a 5xx: %d",
		count, (count+4)/5, rate, sendEnd.Sub(start).Round(time.Millisecond), attempts)
	t.Logf("webhook → revoke: p50 %s, p99 %s, max %s; merged sightings %d; step attempts cut short by the kill %d",
		ms(Percentile(lat, .5)), ms(Percentile(lat, .99)), ms(Percentile(lat, 1)), merged, open)
	mu.Lock()
	tNats, tBack, tFB := events["nats killed"], events["nats restarted"], events["firebreak killed"]
	mu.Unlock()
	base, _ := Pause(leaks, revoked, start.Add(time.Second), tNats)
	pn, pnAt := Pause(leaks, revoked, tNats.Add(-time.Second), tBack)
	pf, pfAt := Pause(leaks, revoked, tFB.Add(-time.Second), sendEnd.Add(30*time.Second))
	t.Logf("longest pause in revocations: before any failure %s; after killing nats-server %s (the consumer leader) %s (starting %s after the kill); after killing a Firebreak instance %s (starting %s after the kill)",
		ms(base), killedNode, ms(pn), ms(pnAt.Sub(tNats)), ms(pf), ms(pfAt.Sub(tFB)))
	t.Logf("latency of keys sent in the 5 s after each failure: nats-server kill max %s, Firebreak kill max %s (ack_wait %s)",
		ms(maxLatency(leaks, revoked, tNats, tNats.Add(5*time.Second))), ms(maxLatency(leaks, revoked, tFB.Add(-2*time.Second), tFB.Add(5*time.Second))), h.Opts.AckWait)
}

func maxLatency(leaks []*Leak, revoked map[string]time.Time, from, to time.Time) time.Duration {
	var m time.Duration
	for _, l := range leaks {
		if l.Sent.Before(from) || !l.Sent.Before(to) {
			continue
		}
		if d := revoked[l.KeyID].Sub(l.Sent); d > m {
			m = d
		}
	}
	return m
}

// consumerLeader names the nats-server leading the responders' consumer.
func consumerLeader(ctx context.Context, js jetstream.JetStream) string {
	for i := 0; i < 50; i++ {
		c, err := js.Consumer(ctx, exposure.StreamExposures, exposure.ConsumerResponders)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				return info.Cluster.Leader
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ""
}
