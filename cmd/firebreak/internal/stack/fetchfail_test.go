package stack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// TestAlertFetchForbiddenFailsAnIncident: GitHub answers 403 to the alert
// fetch (the token lacks the permission). An incident keyed by the alert
// fails with the fetch error, the OpenAI playbook's on_failure pages, and
// the dead letter names that incident; nothing is sent to the provider.
// Once the token is fixed, a replay of that incident fetches the secret and
// revokes the key.
func TestAlertFetchForbiddenFailsAnIncident(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	raw, keyID := e.LeakOpenAI(repo, 71)
	e.GitHub.Server().Inject(emulator.Fault{Match: "GET /repos/acme/payments-api/secret-scanning/alerts/71", Status: 403,
		Body: `{"message":"Resource not accessible by integration"}`})
	code, resp := post(t, e, "ff-403", stack.AlertPayload("created", repo, 71, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, resp)
	}
	id := incident.IDFor(responders.AlertFingerprint(e.App.Keyring, &exposure.Alert{Repository: repo, Number: 71}))
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Failed && in.Lease == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.Error, "could not resolve the secret") || !strings.Contains(in.Error, "403") {
		t.Fatalf("incident error %q does not name the fetch problem", in.Error)
	}
	if of := in.Step("openai-key-exposed/on_failure_0"); of == nil || of.State != incident.StepSucceeded {
		t.Fatalf("on_failure step: %+v", of)
	}
	msgs := e.Slack.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "could not finish") || !strings.Contains(msgs[0].AllText(), id) {
		t.Fatalf("on_failure page: %d messages", len(msgs))
	}
	waitIdle(t, e)
	dead := bustest.StreamMessages(t, e.App.JS, exposure.StreamDead)
	if len(dead) != 1 || dead[0].Header.Get("Firebreak-Incident") != id || !strings.Contains(dead[0].Header.Get("Firebreak-Reason"), "403") {
		t.Fatalf("dead letters: %d (%v)", len(dead), func() any {
			if len(dead) > 0 {
				return dead[0].Header
			}
			return nil
		}())
	}
	if n := len(e.OpenAI.Server().Requests()); n != 0 || !e.OpenAI.Live(raw) {
		t.Fatalf("%d OpenAI requests without the secret", n)
	}
	if failed := findRecord(auditRecords(t, e, id), "incident.failed"); failed == nil || !strings.Contains(failed.Error, "403") {
		t.Fatalf("incident.failed record: %+v", failed)
	}

	// The token fixed: a replay of the failed incident fetches the secret
	// and the key's own incident is contained.
	e.GitHub.Server().ClearFaults()
	tok := newToken(t, e, "oncall", tokens.Replay)
	code, body := api(t, e, "POST", "/v1/incidents/"+id+"/replay", tok, nil)
	var res responders.ReplayResult
	_ = json.Unmarshal(body, &res)
	if code != http.StatusAccepted || len(res.Items) != 1 || res.Items[0].Action != responders.ReplayReplayed {
		t.Fatalf("replay: %d %s", code, body)
	}
	waitState(t, e, e.IncidentFor(raw), incident.Contained)
	waitIdle(t, e)
	if e.OpenAI.Live(raw) || openaiKeyDeletes(e, keyID) != 1 {
		t.Fatalf("after the replay: key live %v, %d deletes", e.OpenAI.Live(raw), openaiKeyDeletes(e, keyID))
	}

	// The alert's failed incident is closed as superseded by the key's, with
	// the record on its own chain, which still verifies to its head.
	keyInc := e.IncidentFor(raw)
	closed, err := e.WaitIncident(ctxT(t, 10*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Resolved
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(closed.Resolution, "superseded by "+keyInc) || closed.Lease != nil || closed.ClosedAt == nil {
		t.Fatalf("the alert's incident after the replay: resolution %q, lease %+v", closed.Resolution, closed.Lease)
	}
	var raws [][]byte
	var last audit.Record
	for _, st := range auditStored(t, e, id) {
		raws = append(raws, st.Raw)
		last = st.Record
	}
	if problems := audit.Verify(raws); len(problems) > 0 || closed.AuditSeq != uint64(len(raws)) {
		t.Fatalf("the alert's audit chain: %v; head at %d of %d records", problems, closed.AuditSeq, len(raws))
	}
	if last.Kind != audit.KindIncidentResolved || last.Data["superseded_by"] != keyInc || !strings.HasPrefix(last.Actor, "oncall") {
		t.Fatalf("the alert's last audit record: %+v", last)
	}
}
