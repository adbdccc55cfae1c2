package stack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// logLines are Firebreak's JSON log lines whose msg is msg.
func logLines(e *env, msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// assertPolledOnce checks what one polled alert leaves behind: a contained
// incident, the key deleted once, the alert resolved as revoked naming the
// incident, one exposure on the stream (from the poller, not a webhook), one
// "backfilled alert" in the log and one in firebreak_exposures_total.
func assertPolledOnce(t *testing.T, e *env, in *incident.Incident, keyID string) {
	t.Helper()
	if in.State != incident.Contained {
		t.Fatalf("incident %s: %s (%s)", in.ID, in.State, in.Error)
	}
	var dels []string
	for _, r := range e.OpenAI.Server().Requests() {
		if r.Method == http.MethodDelete {
			dels = append(dels, r.Path)
		}
	}
	if len(dels) != 1 || !strings.HasSuffix(dels[0], "/api_keys/"+keyID) {
		t.Fatalf("DELETEs at the OpenAI emulator: %v, want one for %s", dels, keyID)
	}
	if st, res, comment := e.GitHub.AlertState("acme", "payments-api", 17); st != "resolved" || res != "revoked" || !strings.Contains(comment, in.ID) {
		t.Fatalf("alert after revocation: %s/%s %q, want resolved/revoked naming %s", st, res, comment, in.ID)
	}
	msgs := bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)
	if len(msgs) != 1 {
		t.Fatalf("%d exposures on the stream, want 1", len(msgs))
	}
	ev, err := exposure.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Alert == nil || ev.Alert.Repository != "acme/payments-api" || ev.Alert.Number != 17 ||
		ev.Source.DeliveryID != "poll:repo:acme/payments-api" {
		t.Fatalf("exposure %+v (alert %+v), want one published by the poll of acme/payments-api naming alert 17", ev.Source, ev.Alert)
	}
	if n := len(logLines(e, "backfilled alert")); n != 1 {
		t.Fatalf("%d \"backfilled alert\" log lines, want 1", n)
	}
	metrics := string(getJSON(t, e.URL+"/metrics", "").raw)
	if want := `firebreak_exposures_total{environment="unknown",provider="openai",source="github"} 1` + "\n"; !strings.Contains(metrics, want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// TestScheduledPollActsOnAnAlertWithoutWebhook: an open alert exists at
// GitHub before polling is turned on (an alert older than the deployment, or
// one whose webhook was lost); no webhook is ever sent. Firebreak restarted
// with github.poll (every 30 s, acme/payments-api, a token) lists it at once
// — the first pass runs at start, not after the interval: the test's
// deadline is shorter than it — and the incident is contained, the key
// deleted once and the alert resolved as revoked.
func TestScheduledPollActsOnAnAlertWithoutWebhook(t *testing.T) {
	poll := false
	e := start(t, stack.Options{Configure: func(c *config.Config) {
		if poll {
			c.GitHub.Poll.Interval = config.Duration(30 * time.Second)
			c.GitHub.Poll.Repos = []string{"acme/payments-api"}
		}
	}})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 17)
	if n := e.GitHub.ListRequests(); n != 0 {
		t.Fatalf("%d alert listings without github.poll", n)
	}
	poll = true
	ctx := ctxT(t, 25*time.Second) // < the 30 s interval
	if err := e.RestartApp(ctx, responders.Hooks{}); err != nil {
		t.Fatal(err)
	}
	in, err := e.WaitIncident(ctx, e.IncidentFor(raw), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	assertPolledOnce(t, e, in, keyID)
}

// TestScheduledPollSkipsAnAlertAlreadyPublished: with passes every 100 ms,
// the incident's first step is held until two more passes have listed the
// alert — still open, since nothing has revoked it yet — and skipped it
// (published 0, skipped 1). Released, the incident is contained with one
// exposure, one DELETE and one write-back: a later pass adds nothing.
//
// serve refuses an interval under 30 s (config validation); the stack builds
// its configuration without that check, which is what lets a second pass
// come without waiting 30 s.
func TestScheduledPollSkipsAnAlertAlreadyPublished(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	hold := func(ctx context.Context, _, _ string) error {
		once.Do(func() { close(held) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e := start(t, stack.Options{Hooks: responders.Hooks{BeforeStep: hold}, Configure: func(c *config.Config) {
		c.GitHub.Poll.Interval = config.Duration(100 * time.Millisecond)
		c.GitHub.Poll.Repos = []string{"acme/payments-api"}
	}})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 17)
	ctx := ctxT(t, 30*time.Second)
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatalf("no step started: the alert was not polled\n%s", tail(e.logs.String(), 4000))
	}
	// Passes after the one that published: each lists the open alert and
	// skips it.
	skipping := func() int {
		n := 0
		for _, l := range logLines(e, "GitHub alert poll done") {
			if l["published"] == float64(0) && l["skipped"] == float64(1) {
				n++
			}
		}
		return n
	}
	for skipping() < 2 {
		if ctx.Err() != nil {
			close(release)
			passes := logLines(e, "GitHub alert poll done")
			t.Fatalf("no two passes skipped the published alert; %d passes, the last: %v", len(passes), passes[max(0, len(passes)-3):])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _, _ := e.GitHub.AlertState("acme", "payments-api", 17); st != "open" {
		t.Fatalf("the alert is %s while the incident is held, want open", st)
	}
	close(release)
	in, err := e.WaitIncident(ctx, e.IncidentFor(raw), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	// One more pass after the write-back, then the records.
	after := len(logLines(e, "GitHub alert poll done"))
	for len(logLines(e, "GitHub alert poll done")) <= after {
		if ctx.Err() != nil {
			t.Fatal("no pass after the incident was contained")
		}
		time.Sleep(20 * time.Millisecond)
	}
	assertPolledOnce(t, e, in, keyID)
}
