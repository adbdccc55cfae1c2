package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestGracefulShutdown sends SIGTERM to a `firebreak serve` process in the
// middle of a run, while revocations are in flight at the OpenAI emulator —
// two of them slower than the grace period — and webhooks keep arriving.
// Two instances share the consumer on one nats-server, with ack_wait (and so
// the incident lease) at 10 minutes: only a real hand-over lets the other
// instance finish the stopped one's incidents within the test's deadline.
//
// The instances run with http.shutdown_delay 2s, as behind a load balancer:
// between SIGTERM and the listener closing, the stopping instance's /readyz
// answers 503 naming the shutdown check (with the default delay of 0 the
// listener closes at once, and a probe is refused instead — unready to a load
// balancer too, but nothing to read).
//
// The stopped process exits 0 within its grace period; deliveries it no
// longer takes are accepted by the other instance; every key is deleted
// exactly once; every incident is contained; and every owner is told exactly
// once (a finished notification is written before the hand-over, so the next
// instance does not send it again).
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server and firebreak processes")
	}
	const grace = 3 * time.Second
	h := New(t, Options{NATS: NATSOptions{Nodes: 1}, Instances: 2, AckWait: 10 * time.Minute, Grace: grace,
		ShutdownDelay: 2 * time.Second})
	// The first two revocations outlast the grace period; the rest take 1 s.
	h.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 2, Delay: 20 * time.Second})
	h.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Delay: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var leaks []*Leak
	var mu sync.Mutex
	send := func(from, n int, first int) {
		var wg sync.WaitGroup
		for i := from; i < from+n; i++ {
			l := h.NewLeak(i, 1)
			l.Accepted = make([]string, 1)
			l.Sent = time.Now()
			mu.Lock()
			leaks = append(leaks, l)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, _, err := h.Deliver(ctx, first, "term-"+l.KeyID, l.Bodies[0])
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				l.Accepted[0] = id
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	send(0, 30, 0)
	// Wait until revocations are in flight, then SIGTERM instance 0 while
	// more alerts arrive at it.
	for h.OpenAI.Server().Count("DELETE /v1/organization/projects/") < 4 {
		if ctx.Err() != nil {
			t.Fatal("no revocations started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var more sync.WaitGroup
	more.Add(1)
	go func() { defer more.Done(); send(100, 20, 0) }()
	// Instance 0's /readyz, polled from before the SIGTERM until it answers
	// 503 with the shutdown check (or the process is gone).
	stopping := make(chan map[string]any, 1)
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		client := &http.Client{Timeout: 2 * time.Second}
		for ctx.Err() == nil {
			if resp, err := client.Get("http://" + h.Instances[0].Addr + "/readyz"); err == nil {
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if problems, _ := body["problems"].(map[string]any); resp.StatusCode == http.StatusServiceUnavailable && problems["shutdown"] != nil {
					stopping <- body
					return
				}
			} else if !h.Alive(0) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	took, err := h.Terminate(0, grace+15*time.Second)
	if err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, h.Log(h.Instances[0]))
	}
	<-pollDone
	select {
	case body := <-stopping:
		if body["ready"] != false || body["problems"].(map[string]any)["shutdown"] != "shutting down: not taking new work" {
			t.Errorf("instance 0's /readyz while stopping: %v", body)
		}
	default:
		t.Errorf("instance 0's /readyz never answered 503 with the shutdown check between SIGTERM and its exit")
	}
	more.Wait()
	t.Logf("instance 0 exited %s after SIGTERM (grace %s)", took.Round(time.Millisecond), grace)
	if took > grace+5*time.Second {
		t.Errorf("instance 0 took %s to exit; the grace period is %s", took, grace)
	}

	if err := h.WaitRevoked(ctx, leaks); err != nil {
		t.Fatal(err)
	}
	incs, err := h.WaitSettled(ctx, leaks)
	if err != nil {
		t.Fatal(err)
	}
	_, deletions := h.Deletions()
	for _, l := range leaks {
		if n := deletions[l.KeyID]; n != 1 {
			t.Errorf("key %s deleted %d times", l.KeyID, n)
		}
		if in := incs[h.IncidentID(l)]; in.State != incident.Contained {
			t.Errorf("incident %s is %s (%s)", in.ID, in.State, in.Error)
		}
	}
	// Each incident's Slack message, exactly once.
	perIncident := map[string]int{}
	for _, m := range h.Slack.Messages() {
		for _, l := range leaks {
			if id := h.IncidentID(l); strings.Contains(string(m.Raw), id) {
				perIncident[id]++
			}
		}
	}
	for _, l := range leaks {
		if n := perIncident[h.IncidentID(l)]; n != 1 {
			t.Errorf("incident %s: %d Slack messages, want exactly 1", h.IncidentID(l), n)
		}
	}
	handed := len(h.LogLines(h.Instances[0], "handed over"))
	if handed == 0 {
		t.Errorf("instance 0 handed no incident over; its log:\n%s", h.Log(h.Instances[0]))
	}
	if len(h.LogLines(h.Instances[0], "stopped")) == 0 {
		t.Errorf("instance 0 did not log a clean stop:\n%s", h.Log(h.Instances[0]))
	}
	t.Logf("%d keys; instance 0 handed %d incidents over at its stop", len(leaks), handed)
}
