package stack_test

import (
	"encoding/json"
	"fmt"
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
	id := failAlertFetch(t, e, repo, 71, raw)

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
	last := checkSuperseded(t, e, id, raw, keyID)
	if last.Data["replay"] == "" || !strings.HasPrefix(last.Actor, "oncall") {
		t.Fatalf("the alert's last audit record: %+v", last)
	}
}

// TestAlertFetchFixedByALaterWebhook: as above, but the token is fixed and
// GitHub sends a later event of the same alert (validated) instead of anyone
// replaying: that delivery fetches the secret, the key is revoked, and the
// alert's failed incident is closed as superseded, its record's actor the
// webhook's sender.
func TestAlertFetchFixedByALaterWebhook(t *testing.T) {
	e := start(t, stack.Options{})
	const repo = "acme/payments-api"
	raw, keyID := e.LeakOpenAI(repo, 72)
	id := failAlertFetch(t, e, repo, 72, raw)

	e.GitHub.Server().ClearFaults()
	if code, resp := post(t, e, "ff-later", stack.AlertPayload("validated", repo, 72, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, resp)
	}
	last := checkSuperseded(t, e, id, raw, keyID)
	if last.Actor != "github" || last.Data["replay"] != "" || !strings.Contains(last.Detail, "validated") {
		t.Fatalf("the alert's last audit record: %+v", last)
	}
}

// failAlertFetch posts a created alert whose fetch GitHub answers 403 and
// checks the failure: the incident keyed by the alert fails naming the
// fetch error, on_failure pages, the dead letter names the incident, and
// nothing reaches OpenAI. It returns the alert incident's id.
func failAlertFetch(t *testing.T, e *env, repo string, number int64, raw string) string {
	t.Helper()
	e.GitHub.Server().Inject(emulator.Fault{Match: fmt.Sprintf("GET /repos/%s/secret-scanning/alerts/%d", repo, number), Status: 403,
		Body: `{"message":"Resource not accessible by integration"}`})
	code, resp := post(t, e, fmt.Sprintf("ff-403-%d", number), stack.AlertPayload("created", repo, number, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, resp)
	}
	id := incident.IDFor(responders.AlertFingerprint(e.App.Keyring, &exposure.Alert{Repository: repo, Number: number}))
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
	return id
}

// checkSuperseded waits for the key's own incident to be contained with
// exactly one DELETE of keyID, and for the alert's failed incident id to be
// resolved as superseded by it, with the record on its own chain, which
// still verifies to its head. It returns that last record.
func checkSuperseded(t *testing.T, e *env, id, raw, keyID string) audit.Record {
	t.Helper()
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
	if last.Kind != audit.KindIncidentResolved || last.Data["superseded_by"] != keyInc {
		t.Fatalf("the alert's last audit record: %+v", last)
	}
	return last
}
