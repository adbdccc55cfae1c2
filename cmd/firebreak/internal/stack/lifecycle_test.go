package stack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestResolvedAlertsNeverRevoke: an alert people resolved closes its incident
// without acting; a later resolution of an already contained incident keeps
// the containment and records the resolution.
func TestResolvedAlertsNeverRevoke(t *testing.T) {
	e := start(t, stack.Options{})
	kept, _ := e.LeakOpenAI("acme/payments-api", 18)
	code, resp := post(t, e, "r-1", stack.AlertPayload("resolved", "acme/payments-api", 18, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("resolved alert: %d %v", code, resp)
	}
	in, err := e.WaitIncident(ctxT(t, 20*time.Second), e.IncidentFor(kept), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Resolved || len(in.Steps) != 0 || !strings.Contains(in.Resolution, "false_positive") {
		t.Fatalf("incident %s, %d steps, resolution %q", in.State, len(in.Steps), in.Resolution)
	}
	waitIdle(t, e)
	if !e.OpenAI.Live(kept) || deletes(e.OpenAI.Server()) != 0 || e.OpenAI.Server().Count("GET /v1/me") != 0 {
		t.Fatal("a resolved alert made provider calls")
	}

	// Contained first, resolved later: still contained, resolution noted.
	raw, _ := e.LeakOpenAI("acme/payments-api", 19)
	post(t, e, "r-2", stack.AlertPayload("created", "acme/payments-api", 19, "openai_api_key"))
	id := e.IncidentFor(raw)
	if _, err := e.WaitIncident(ctxT(t, 20*time.Second), id, func(in *incident.Incident) bool { return in.State == incident.Contained }); err != nil {
		t.Fatal(err)
	}
	post(t, e, "r-3", stack.AlertPayload("resolved", "acme/payments-api", 19, "openai_api_key"))
	in, err = e.WaitIncident(ctxT(t, 20*time.Second), id, func(in *incident.Incident) bool { return in.Resolution != "" })
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Contained || deletes(e.OpenAI.Server()) != 1 {
		t.Fatalf("after resolution: %s with %d deletes", in.State, deletes(e.OpenAI.Server()))
	}
}

// TestBusDownAnswers503: while JetStream is down the ingest answers 503 with
// Retry-After (never 2xx) within its timeout, /readyz says not ready, and
// nothing is half written; after a restart the same delivery is accepted once.
func TestBusDownAnswers503(t *testing.T) {
	e := start(t, stack.Options{Configure: func(c *config.Config) { c.HTTP.IngestTimeout = config.Duration(time.Second) }})
	body := stack.AlertPayload("created", "acme/payments-api", 1, "openai_api_key")
	ctx := context.Background()
	e.App.Server.Shutdown()
	e.App.Server.WaitForShutdown()
	code, b, err := e.PostGitHub(ctx, "secret_scanning_alert", "down-1", body)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "retry") {
		t.Fatalf("with the bus down: %d %s", code, b)
	}
	if r := getJSON(t, e.URL+"/readyz", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the bus down: %d", r.code)
	}
	if err := e.RestartApp(ctx, responders.Hooks{}); err != nil {
		t.Fatal(err)
	}
	code, b, err = e.PostGitHub(ctx, "secret_scanning_alert", "down-1", body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("after the bus came back: %d %s %v", code, b, err)
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 1 {
		t.Fatalf("%d exposures stored, want exactly the accepted one", n)
	}
}

// TestBusConnectionClosedForGoodStopsFirebreak: the server closes one of
// Firebreak's bus connections for good (here after a subject over its
// control-line limit; nats.go does not reconnect after such a protocol
// error). Firebreak stops with an error naming the connection, so that its
// supervisor restarts it, rather than running on with ingest answering 503
// or the responders stopped.
func TestBusConnectionClosedForGoodStopsFirebreak(t *testing.T) {
	e := start(t, stack.Options{})
	nc := e.App.Conn
	if err := nc.Publish("x."+strings.Repeat("a", 8<<10), []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	err := e.Exited(ctxT(t, 30*time.Second))
	if err == nil || !strings.Contains(err.Error(), `the NATS connection "firebreak" was closed for good`) ||
		!strings.Contains(strings.ToLower(err.Error()), "maximum control line") {
		t.Fatalf("Run returned %v; want the lost connection named, with the server's reason", err)
	}
}
