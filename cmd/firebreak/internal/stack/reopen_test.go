package stack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// keyDeletes counts the DELETEs of one OpenAI key at the emulator.
func openaiKeyDeletes(e *env, keyID string) int {
	n := 0
	for _, d := range e.OpenAI.Deletions() {
		if d.ID == keyID {
			n++
		}
	}
	return n
}

// records returns the audit records of one kind on an incident's chain.
func auditOfKind(t *testing.T, e *env, id, kind string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, r := range auditRecords(t, e, id) {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func postAlertAction(t *testing.T, e *env, delivery, action, repo string, n int64) {
	t.Helper()
	code, resp := post(t, e, delivery, stack.AlertPayload(action, repo, n, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("%s alert: %d %v", action, code, resp)
	}
}

// TestResolvedIncidentReopenedByAlert: people resolved an alert before
// Firebreak acted (say, as a false positive); GitHub then reports it
// reopened, validated or publicly leaked. The incident reopens — an
// incident.reopened record names the alert and its action — and the
// playbooks run: the live key is revoked exactly once.
func TestResolvedIncidentReopenedByAlert(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	for i, action := range []string{"reopened", "validated", "publicly_leaked"} {
		n := int64(61 + i)
		raw, keyID := e.LeakOpenAI(repo, n)
		id := e.IncidentFor(raw)
		postAlertAction(t, e, fmt.Sprintf("ro-%d-resolved", n), "resolved", repo, n)
		waitState(t, e, id, incident.Resolved)
		postAlertAction(t, e, fmt.Sprintf("ro-%d-%s", n, action), action, repo, n)
		in := waitState(t, e, id, incident.Contained, incident.Failed, incident.Completed)
		waitIdle(t, e)
		if in.State != incident.Contained || e.OpenAI.Live(raw) || openaiKeyDeletes(e, keyID) != 1 {
			t.Fatalf("%s: incident %s (%s), key live %v, %d deletes", action, in.State, in.Error, e.OpenAI.Live(raw), openaiKeyDeletes(e, keyID))
		}
		if in.Resolution != "" || len(in.Exposures) != 2 {
			t.Fatalf("%s: resolution %q, %d exposures", action, in.Resolution, len(in.Exposures))
		}
		re := auditOfKind(t, e, id, audit.KindIncidentReopened)
		want := fmt.Sprintf("%s#%d", repo, n)
		actor := "github" // the webhook's sender: GitHub itself, or the person who reopened the alert
		if action == "reopened" {
			actor = "maria-sec"
		}
		if len(re) != 1 || re[0].Data["action"] != action || re[0].Data["alert"] != want || re[0].Actor != actor ||
			!strings.Contains(re[0].Detail, "false_positive") {
			t.Fatalf("%s: incident.reopened records %+v", action, re)
		}
	}
}

// TestFinishedIncidentNotReopenedByAlert: once Firebreak contained an
// incident, later reopened and validated alerts for it are recorded as
// sightings and revoke nothing again.
func TestFinishedIncidentNotReopenedByAlert(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	raw, keyID := e.LeakOpenAI(repo, 64)
	id := e.IncidentFor(raw)
	postAlertAction(t, e, "fin-created", "created", repo, 64)
	waitState(t, e, id, incident.Contained)
	postAlertAction(t, e, "fin-resolved", "resolved", repo, 64)
	postAlertAction(t, e, "fin-reopened", "reopened", repo, 64)
	postAlertAction(t, e, "fin-validated", "validated", repo, 64)
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool { return len(in.Exposures) == 4 })
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if in.State != incident.Contained || openaiKeyDeletes(e, keyID) != 1 {
		t.Fatalf("incident %s with %d deletes", in.State, openaiKeyDeletes(e, keyID))
	}
	if re := auditOfKind(t, e, id, audit.KindIncidentReopened); len(re) != 0 {
		t.Fatalf("a contained incident was reopened: %+v", re)
	}
}

// TestDuplicateReopenReopensOnce: the same reopened exposure delivered again
// (an ack lost, a copy on the bus) after people resolved the incident a
// second time does not reopen it again.
func TestDuplicateReopenReopensOnce(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	// A key the provider no longer accepts: the reopened incident verifies
	// it, finds it dead, and completes without revoking.
	raw := "sk-proj-" + strings.Repeat("d0a1", 12)
	e.GitHub.AddAlertNumber("acme", "payments-api", 65, "openai_api_key", raw)
	id := e.IncidentFor(raw)
	postAlertAction(t, e, "dup-resolved-1", "resolved", repo, 65)
	waitState(t, e, id, incident.Resolved)
	postAlertAction(t, e, "dup-reopened", "reopened", repo, 65)
	waitState(t, e, id, incident.Completed)
	postAlertAction(t, e, "dup-resolved-2", "resolved", repo, 65)
	waitState(t, e, id, incident.Resolved)
	waitIdle(t, e)
	verifies := e.OpenAI.Server().Count("GET /v1/me")
	if verifies == 0 {
		t.Fatal("the reopened incident never verified the key")
	}

	// GitHub redelivering the webhook is caught at ingest; a copy of the
	// stored exposure on the bus reaches the responders.
	if code, resp := post(t, e, "dup-reopened", stack.AlertPayload("reopened", repo, 65, "openai_api_key")); code != http.StatusOK {
		t.Fatalf("redelivered webhook: %d %v", code, resp)
	}
	var reopened *jetstream.RawStreamMsg
	for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
		if ev, err := exposure.Decode(m.Data); err == nil && ev.Alert != nil && ev.Alert.Action == "reopened" {
			reopened = m
		}
	}
	if reopened == nil {
		t.Fatal("the reopened exposure is not stored")
	}
	if _, err := e.App.JS.Publish(ctxT(t, 5*time.Second), reopened.Subject, reopened.Data, jetstream.WithMsgID("dup-copy")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	in, _, err := e.App.Incidents.Get(ctxT(t, 5*time.Second), id)
	must(t, err)
	if in.State != incident.Resolved || e.OpenAI.Server().Count("GET /v1/me") != verifies {
		t.Fatalf("after the copy: incident %s, %d verifies (was %d)", in.State, e.OpenAI.Server().Count("GET /v1/me"), verifies)
	}
	if re := auditOfKind(t, e, id, audit.KindIncidentReopened); len(re) != 1 {
		t.Fatalf("%d incident.reopened records, want 1", len(re))
	}
}

// TestReopenRechecksTheKey: Firebreak found the key dead and completed; people
// resolved the alert; the key turns out live and GitHub reports the alert
// reopened. The reopened incident verifies again, revokes the key once and
// tells people the new outcome.
func TestReopenRechecksTheKey(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	raw := "sk-proj-" + strings.Repeat("5eca", 12)
	e.GitHub.AddAlertNumber("acme", "payments-api", 66, "openai_api_key", raw)
	id := e.IncidentFor(raw)
	postAlertAction(t, e, "rc-created", "created", repo, 66)
	in := waitState(t, e, id, incident.Completed)
	if s := in.Step("openai-key-exposed/revoke"); s == nil || s.State != incident.StepSkipped {
		t.Fatalf("revoke step of a dead key: %+v", s)
	}
	postAlertAction(t, e, "rc-resolved", "resolved", repo, 66)
	waitState(t, e, id, incident.Resolved)
	waitIdle(t, e)
	verifies, pages := e.OpenAI.Server().Count("GET /v1/me"), len(e.Slack.Messages())

	keyID := e.OpenAI.AddKeyValue(e.OpenAI.AddProject("late"), raw, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
	postAlertAction(t, e, "rc-reopened", "reopened", repo, 66)
	in = waitState(t, e, id, incident.Contained, incident.Completed, incident.Failed)
	waitIdle(t, e)
	if in.State != incident.Contained || e.OpenAI.Live(raw) || openaiKeyDeletes(e, keyID) != 1 {
		t.Fatalf("after the reopen: incident %s (%s), key live %v, %d deletes", in.State, in.Error, e.OpenAI.Live(raw), openaiKeyDeletes(e, keyID))
	}
	if n := e.OpenAI.Server().Count("GET /v1/me"); n <= verifies {
		t.Fatalf("the key was not verified again (%d verifies, was %d)", n, verifies)
	}
	msgs := e.Slack.Messages()
	if len(msgs) != pages+1 || !strings.Contains(msgs[len(msgs)-1].AllText(), "Revoked") {
		t.Fatalf("%d Slack messages (was %d) after the reopen", len(msgs), pages)
	}
	re := auditOfKind(t, e, id, audit.KindIncidentReopened)
	if len(re) != 1 || !strings.Contains(re[0].Detail, "openai-key-exposed/verify") || !strings.Contains(re[0].Detail, "openai-key-exposed/revoke") {
		t.Fatalf("incident.reopened records %+v", re)
	}
}
