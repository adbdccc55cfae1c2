package stack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

func replayAPI(t *testing.T, e *env, token string, req any) (int, responders.ReplayResult, string) {
	t.Helper()
	code, body := api(t, e, "POST", "/v1/replay", token, req)
	var res responders.ReplayResult
	_ = json.Unmarshal(body, &res)
	return code, res, string(body)
}

func streamLast(t *testing.T, e *env, name string) uint64 {
	t.Helper()
	st, err := e.App.JS.Stream(context.Background(), name)
	must(t, err)
	info, err := st.Info(context.Background())
	must(t, err)
	return info.State.LastSeq
}

// A dry-run replay plans — matching playbooks and why, each step with its
// parameters and provider calls — and touches nothing: no emulator receives
// a request, no exposure is published, no incident or audit chain changes.
func TestReplayDryRunHasNoSideEffect(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 51, "d-rp-dry")
	before := waitState(t, e, id, incident.Contained)
	for _, s := range []*emulator.Server{e.OpenAI.Server(), e.GitHub.Server(), e.Slack.Server, e.Webhook.Server} {
		s.Reset()
	}
	msgsBefore, slackBefore, hooksBefore := streamLast(t, e, exposure.StreamExposures), len(e.Slack.Messages()), len(e.Webhook.Deliveries())
	_, incRev, _ := e.App.Incidents.Get(context.Background(), id)
	chainBefore := len(auditRecords(t, e, id))

	tok := newToken(t, e, "oncall", tokens.Replay)
	changed := `apiVersion: firebreak/v1
kind: Playbook
name: openai-key-exposed
match: {providers: [openai], when: 'exposure.source.kind == "github"'}
steps:
  - id: verify
    uses: provider.verify
  - id: revoke
    uses: provider.revoke
    if: steps.verify.outputs.live
  - id: page
    uses: notify.webhook
    with: {event: 'key.{{ .Exposure.Secret.Provider }}.leaked', severity: critical}
`
	code, res, body := replayAPI(t, e, tok, map[string]any{"since": time.Now().Add(-time.Hour), "provider": "openai", "dry_run": true,
		"playbook": changed, "playbook_name": "changed.yaml"})
	if code != http.StatusOK || !res.DryRun || len(res.Items) != 1 {
		t.Fatalf("dry-run by time: %d %s", code, body)
	}
	p := res.Items[0].Plan
	if p == nil || len(p.Playbooks) != 1 || !p.Playbooks[0].Matched || !strings.Contains(p.Playbooks[0].Reason, `when "exposure.source.kind == \"github\"" holds`) {
		t.Fatalf("plan: %s", body)
	}
	steps := p.Playbooks[0].Steps
	if steps[0].Will != responders.WillDone || steps[1].Will != responders.WillDone {
		t.Fatalf("verify and revoke are done in the incident: %+v", steps[:2])
	}
	if steps[2].Will != responders.WillRun || steps[2].With["event"] != "key.openai.leaked" || !steps[2].SideEffect {
		t.Fatalf("page step: %+v", steps[2])
	}

	// By incident id, with the loaded playbooks: the provider calls are listed.
	code, body2 := api(t, e, "POST", "/v1/incidents/"+id+"/replay?dry_run=true", tok, nil)
	if code != http.StatusOK || !strings.Contains(string(body2), `"will":"done"`) || !strings.Contains(string(body2), "openai-key-exposed") {
		t.Fatalf("dry-run by incident: %d %s", code, body2)
	}
	for name, s := range map[string]*emulator.Server{"openai": e.OpenAI.Server(), "github": e.GitHub.Server(), "slack": e.Slack.Server, "webhook": e.Webhook.Server} {
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%s emulator received %d request(s) during dry-runs", name, n)
		}
	}
	if got := streamLast(t, e, exposure.StreamExposures); got != msgsBefore {
		t.Errorf("the exposures stream grew by %d during dry-runs", got-msgsBefore)
	}
	if len(e.Slack.Messages()) != slackBefore || len(e.Webhook.Deliveries()) != hooksBefore {
		t.Error("a dry-run notified someone")
	}
	after, rev, _ := e.App.Incidents.Get(context.Background(), id)
	if rev != incRev || after.State != before.State || len(auditRecords(t, e, id)) != chainBefore {
		t.Error("a dry-run changed the incident or its audit chain")
	}
}

// Zero emulator traffic, strictly: a plan of a new exposure (nothing done
// yet) lists every provider call, and no emulator sees a request.
func TestReplayDryRunZeroEmulatorTraffic(t *testing.T) {
	// The exposure is published with no responder running, so that nothing
	// has happened to it when it is planned.
	off := false
	e2 := start(t, stack.Options{Configure: func(c *config.Config) { c.Responders.Enabled = &off }})
	raw, keyID := e2.LeakOpenAI("acme/payments-api", 53)
	_ = keyID
	code, resp := post(t, e2, "d-rp-zero", stack.AlertPayload("created", "acme/payments-api", 53, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("ingest: %d %v", code, resp)
	}
	for _, s := range []*emulator.Server{e2.OpenAI.Server(), e2.GitHub.Server(), e2.Slack.Server, e2.Webhook.Server} {
		s.Reset()
	}
	tok := newToken(t, e2, "oncall", tokens.Replay)
	code, res, body := replayAPI(t, e2, tok, map[string]any{"seq": 1, "dry_run": true})
	if code != http.StatusOK || len(res.Items) != 1 {
		t.Fatalf("dry-run by seq: %d %s", code, body)
	}
	var revoke *responders.StepPlan
	for _, pb := range res.Items[0].Plan.Playbooks {
		for i, st := range pb.Steps {
			if pb.Matched && st.ID == "revoke" {
				revoke = &pb.Steps[i]
			}
		}
	}
	if revoke == nil || revoke.Will != responders.WillRun || len(revoke.Calls) == 0 {
		t.Fatalf("revoke plan: %s", body)
	}
	var sawDelete bool
	for _, c := range revoke.Calls {
		if c.Method == http.MethodDelete {
			sawDelete = true
		}
	}
	if !sawDelete {
		t.Fatalf("the plan lists no DELETE: %+v", revoke.Calls)
	}
	for name, s := range map[string]*emulator.Server{"openai": e2.OpenAI.Server(), "github": e2.GitHub.Server(), "slack": e2.Slack.Server, "webhook": e2.Webhook.Server} {
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%s emulator received %d request(s) during a dry-run: %+v", name, n, s.Requests())
		}
	}
	if strings.Contains(body, raw) {
		t.Fatal("the plan carries the raw key")
	}
}

// A failed incident, replayed for real, resumes at its failed step: verify
// is not run again, the key is revoked once; replaying the contained
// incident again revokes nothing.
func TestReplayResumesFailedIncident(t *testing.T) {
	e := start(t, stack.Options{})
	e.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects", Status: 401})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 54, "d-rp-fail")
	// Failed is written before the on_failure steps run; the lease goes
	// with the write after them. Until then a replay rightly answers that
	// a responder is handling the incident.
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Failed && in.Lease == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := in.Step("openai-key-exposed/revoke"); s == nil || s.State != incident.StepFailed {
		t.Fatalf("revoke step: %+v", s)
	}
	e.OpenAI.Server().ClearFaults()
	verifies := e.OpenAI.Server().Count("GET /v1/me")

	tok := newToken(t, e, "oncall", tokens.Replay)
	code, body := api(t, e, "POST", "/v1/incidents/"+id+"/replay", tok, nil)
	var res responders.ReplayResult
	_ = json.Unmarshal(body, &res)
	if code != http.StatusAccepted || len(res.Items) != 1 || res.Items[0].Action != responders.ReplayReplayed ||
		!strings.Contains(res.Items[0].Reason, "resumes there") {
		t.Fatalf("replay: %d %s", code, body)
	}
	if _, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		return in.LastReplay == res.ReplayID && in.State == incident.Contained
	}); err != nil {
		t.Fatal(err)
	}
	if n := e.OpenAI.Server().Count("GET /v1/me"); n != verifies {
		t.Errorf("verify ran again (%d calls, was %d): the replay did not resume at the failed step", n, verifies)
	}
	if deletes(e.OpenAI.Server()) != 1 || e.OpenAI.Live(raw) {
		t.Fatal("the key was not revoked exactly once")
	}
	if r := findRecord(auditRecords(t, e, id), "incident.replayed"); r == nil || !strings.HasPrefix(r.Actor, "oncall") {
		t.Fatalf("incident.replayed record: %+v", r)
	}

	// Replaying the contained incident re-checks and revokes nothing.
	code, body = api(t, e, "POST", "/v1/incidents/"+id+"/replay", tok, nil)
	var res2 responders.ReplayResult
	_ = json.Unmarshal(body, &res2)
	if code != http.StatusAccepted {
		t.Fatalf("second replay: %d %s", code, body)
	}
	if _, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		return in.LastReplay == res2.ReplayID && in.State == incident.Contained
	}); err != nil {
		t.Fatal(err)
	}
	if deletes(e.OpenAI.Server()) != 1 {
		t.Fatalf("a replay of a contained incident revoked again: %d DELETEs", deletes(e.OpenAI.Server()))
	}
}

// Selection by stream sequence, time range and filters.
func TestReplaySelection(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, a := leakAlert(t, e, "acme/payments-api", 55, "d-rp-sel-1")
	_, _, b := leakAlert(t, e, "acme/infra-tools", 56, "d-rp-sel-2")
	waitState(t, e, a, incident.Contained)
	waitState(t, e, b, incident.Contained)
	tok := newToken(t, e, "oncall", tokens.Replay)
	msgs := bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)
	if len(msgs) != 2 {
		t.Fatalf("%d exposures stored", len(msgs))
	}
	_, res, body := replayAPI(t, e, tok, map[string]any{"seq": msgs[1].Sequence, "dry_run": true})
	if len(res.Items) != 1 || res.Items[0].Incident != b {
		t.Fatalf("by seq %d: %s", msgs[1].Sequence, body)
	}
	_, res, body = replayAPI(t, e, tok, map[string]any{"seq": msgs[0].Sequence, "seq_end": msgs[1].Sequence, "dry_run": true})
	if len(res.Items) != 2 {
		t.Fatalf("by seq range: %s", body)
	}
	_, res, _ = replayAPI(t, e, tok, map[string]any{"since": time.Now().Add(-time.Hour), "dry_run": true, "provider": "github"})
	if len(res.Items) != 0 {
		t.Fatalf("provider github selected %d openai exposures", len(res.Items))
	}
	_, res, _ = replayAPI(t, e, tok, map[string]any{"since": time.Now().Add(-time.Hour), "dry_run": true, "source": "github", "environment": "unknown"})
	if len(res.Items) != 2 {
		t.Fatalf("source/environment filter: %d items", len(res.Items))
	}
	// Both exposures match the filter above: these match neither (more in filters_test.go).
	for _, f := range []map[string]any{{"source": "loki"}, {"environment": "prod"}} {
		f["since"], f["dry_run"] = time.Now().Add(-time.Hour), true
		if _, res, _ = replayAPI(t, e, tok, f); len(res.Items) != 0 {
			t.Fatalf("%v selected %d", f, len(res.Items))
		}
	}
	_, res, _ = replayAPI(t, e, tok, map[string]any{"since": time.Now().Add(time.Hour), "dry_run": true})
	if len(res.Items) != 0 {
		t.Fatalf("a future --since selected %d", len(res.Items))
	}
	_, res, _ = replayAPI(t, e, tok, map[string]any{"incident": a, "dry_run": true})
	if len(res.Items) != 1 || res.Items[0].Exposure.StreamSeq != msgs[0].Sequence {
		t.Fatalf("by incident: %+v", res.Items)
	}
	// Bad requests say what is wrong.
	for _, bad := range []map[string]any{{"dry_run": true}, {"seq": 1, "since": time.Now()}, {"incident": a, "playbook": "x: 1"}} {
		if code, _, body := replayAPI(t, e, tok, bad); code != http.StatusBadRequest {
			t.Errorf("%v: %d %s, want 400", bad, code, body)
		}
	}
	if code, _, _ := replayAPI(t, e, tok, map[string]any{"incident": "inc_nope"}); code != http.StatusNotFound {
		t.Errorf("unknown incident: %d, want 404", code)
	}
}

// An incident recorded before incidents kept their exposures' stream
// sequences is still replayable by id: the replay finds its exposures by id
// in the stream, from shortly before the first receipt.
func TestReplayByIncidentWithoutStreamSeqs(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 53, "d-rp-noseq")
	waitState(t, e, id, incident.Contained)
	msgs := bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)
	if len(msgs) != 1 {
		t.Fatalf("%d exposures stored", len(msgs))
	}
	ctx := context.Background()
	inc, rev, err := e.App.Incidents.Get(ctx, id)
	must(t, err)
	for i := range inc.Exposures {
		inc.Exposures[i].StreamSeq = 0
	}
	_, err = e.App.Incidents.Update(ctx, inc, rev)
	must(t, err)

	tok := newToken(t, e, "oncall", tokens.Replay)
	code, res, body := replayAPI(t, e, tok, map[string]any{"incident": id, "dry_run": true})
	if code != http.StatusOK || len(res.Items) != 1 || res.Items[0].Exposure.StreamSeq != msgs[0].Sequence ||
		res.Items[0].Incident != id {
		t.Fatalf("by incident without stream sequences: %d %s", code, body)
	}
}
