package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// onceRevokePagingPlaybook is onceRevokePlaybook (a single in-process
// attempt: a failed revocation is retried only through a redelivery) that
// also pages Slack when the playbook gives up.
const onceRevokePagingPlaybook = onceRevokePlaybook + `on_failure:
  - uses: notify.slack
    with:
      severity: critical
      text: >-
        Firebreak gave up revoking OpenAI key {{ .Exposure.Secret.Redacted }}
        (incident {{ .Incident.ID }}): act by hand now.
`

// startWithPlaybook starts a stack that runs only the given playbook.
func startWithPlaybook(t *testing.T, playbook string, opts stack.Options) *env {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "playbook.yaml"), []byte(playbook), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Configure = func(c *config.Config) {
		off := false
		c.Playbooks.Builtin, c.Playbooks.Dir = &off, dir
	}
	return start(t, opts)
}

// deleteTimes lists when the OpenAI emulator received a DELETE of keyID.
func deleteTimes(e *env, keyID string) []time.Time {
	var at []time.Time
	for _, r := range e.OpenAI.Server().Requests() {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.Path, "/api_keys/"+keyID) {
			at = append(at, r.At)
		}
	}
	return at
}

// TestRedeliveryHonoursRetryAfter: the revoke step has a single in-process
// attempt, so when the OpenAI emulator answers its DELETE with 429 and
// Retry-After: 3 the message is nakked with a delay and the revocation is
// retried through a redelivery. That redelivery comes no sooner than 3 s
// later (the first redelivery's own backoff is 1 s, so this holds only if
// Retry-After is honoured), the key is deleted exactly once, and the audit
// shows the retrying outcome.
func TestRedeliveryHonoursRetryAfter(t *testing.T) {
	e := startWithPlaybook(t, onceRevokePlaybook, stack.Options{})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 41)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Status: 429, RetryAfter: "3"})
	if code, _ := post(t, e, "d-nak-429", stack.AlertPayload("created", "acme/payments-api", 41, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if in.State != incident.Contained {
		t.Fatalf("state %s: %s", in.State, in.Error)
	}

	at := deleteTimes(e, keyID)
	if len(at) != 2 {
		t.Fatalf("DELETE requests for the key: %d, want 2 (429, then the redelivery's success)", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 3*time.Second {
		t.Fatalf("the redelivery retried the DELETE %s after the 429, before Retry-After: 3 elapsed", gap)
	}
	if n := len(e.OpenAI.Deletions()); n != 1 || e.OpenAI.Live(raw) {
		t.Fatalf("key deletions: %d (live %v), want exactly one", n, e.OpenAI.Live(raw))
	}
	if rev := step(in, "revoke"); rev == nil || rev.State != incident.StepSucceeded || rev.Attempts != 2 {
		t.Fatalf("revoke step %+v: want succeeded on its second attempt", rev)
	}
	var revoke []string
	var retrying *audit.Record
	recs := auditRecords(t, e, id)
	for i, r := range recs {
		if r.Step == "revoke" {
			revoke = append(revoke, r.Kind)
			if r.Kind == audit.KindStepRetrying {
				retrying = &recs[i]
			}
		}
	}
	want := []string{audit.KindStepStarted, audit.KindStepRetrying, audit.KindStepStarted, audit.KindStepSucceeded}
	if strings.Join(revoke, " ") != strings.Join(want, " ") {
		t.Fatalf("revoke audit records %v, want %v", revoke, want)
	}
	if retrying.Outcome != "retrying" || !strings.Contains(retrying.Error, "429") || retrying.Detail != "redelivery in 3s" {
		t.Fatalf("retrying record: outcome %q error %q detail %q, want retrying, the 429, and a redelivery in 3s",
			retrying.Outcome, retrying.Error, retrying.Detail)
	}
}

// TestRetriesUsedUpDeadLetter: the OpenAI emulator answers every DELETE with
// 503 and nats.max_deliver is 2, so the revoke step (one in-process attempt)
// fails retryably on the first delivery and again on the redelivery. Then
// its budget is spent: the incident fails, the on_failure step pages Slack,
// exactly one dead letter (carrying the incident id, never the secret) lands
// on the dead-letter subject, and the message is not delivered again.
func TestRetriesUsedUpDeadLetter(t *testing.T) {
	e := startWithPlaybook(t, onceRevokePagingPlaybook, stack.Options{MaxDeliver: 2})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 43)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Status: 503})
	if code, _ := post(t, e, "d-503", stack.AlertPayload("created", "acme/payments-api", 43, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Failed && in.Lease == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if !strings.Contains(in.Error, "attempts exhausted (2)") || !strings.Contains(in.Error, "503") {
		t.Fatalf("incident error %q does not say the 2 attempts were used up on a 503", in.Error)
	}
	if rev := step(in, "revoke"); rev == nil || rev.State != incident.StepFailed || rev.Attempts != 2 {
		t.Fatalf("revoke step %+v: want failed after 2 attempts", rev)
	}
	if n := len(deleteTimes(e, keyID)); n != 2 {
		t.Fatalf("DELETE requests: %d, want 2 (one per delivery)", n)
	}
	if !e.OpenAI.Live(raw) {
		t.Fatal("the key was deleted despite every DELETE failing")
	}

	// on_failure ran: Slack got the page, and the incident records it.
	msgs := e.Slack.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "gave up revoking") || !strings.Contains(msgs[0].AllText(), id) {
		t.Fatalf("on_failure page: %d Slack messages", len(msgs))
	}
	if of := in.Step("openai-once/on_failure_0"); of == nil || of.State != incident.StepSucceeded {
		t.Fatalf("on_failure step: %+v", of)
	}
	recs := auditRecords(t, e, id)
	if findRecord(recs, audit.KindIncidentFailed) == nil {
		t.Fatal("no incident.failed audit record")
	}

	// Exactly one dead letter, on the dead-letter subject, naming the incident.
	dead := bustest.StreamMessages(t, e.App.JS, exposure.StreamDead)
	if len(dead) != 1 {
		t.Fatalf("dead letters: %d, want 1", len(dead))
	}
	d := dead[0]
	if d.Subject != "firebreak.dead.github.openai" || d.Header.Get("Firebreak-Incident") != id ||
		!strings.Contains(d.Header.Get("Firebreak-Reason"), "attempts exhausted") || d.Header.Get("Firebreak-Deliveries") != "2" {
		t.Fatalf("dead letter on %s: incident %q reason %q deliveries %q", d.Subject,
			d.Header.Get("Firebreak-Incident"), d.Header.Get("Firebreak-Reason"), d.Header.Get("Firebreak-Deliveries"))
	}
	texts := []string{d.Subject, string(d.Data)}
	for k, vs := range d.Header {
		texts = append(texts, k+": "+strings.Join(vs, ","))
	}
	providertest.AssertNoSecret(t, raw, texts...)

	// The message was terminated: no further delivery, no further attempt.
	before := consumerInfo(t, e)
	time.Sleep(4 * time.Second) // past the next backoff (2 s) had it been nakked
	waitIdle(t, e)
	after := consumerInfo(t, e)
	// Two deliveries in all: the first and the one redelivery the budget
	// allows; a dead-lettered message nakked instead of terminated would
	// come a third time (and be dropped there, the incident being failed).
	if before.Delivered.Consumer != 2 || after.Delivered.Consumer != 2 || after.NumAckPending != 0 || after.NumPending != 0 {
		t.Fatalf("consumer deliveries: %d, then %d after waiting (ack-pending %d, pending %d), want 2 and no more",
			before.Delivered.Consumer, after.Delivered.Consumer, after.NumAckPending, after.NumPending)
	}
	if n := len(deleteTimes(e, keyID)); n != 2 {
		t.Fatalf("DELETE requests after the incident failed: %d, want still 2", n)
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamDead)); n != 1 {
		t.Fatalf("dead letters after waiting: %d, want still 1", n)
	}
}

func consumerInfo(t *testing.T, e *env) *jetstream.ConsumerInfo {
	t.Helper()
	ctx := ctxT(t, 5*time.Second)
	c, err := e.App.JS.Consumer(ctx, exposure.StreamExposures, exposure.ConsumerResponders)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestRetryDelayCountsTheStepsAttempts: the message is delivered four times
// before the revoke step first fails (three simulated crashes at verify),
// then the DELETE gets a 503 without Retry-After. The redelivery comes after
// the backoff of the step's first failed attempt, 1 s, not after the one of
// a fifth delivery (16 s; up to 5 min after more crashes and lease waits —
// a likely cause of a fault-soak incident left retrying for over 15 min).
// The key is deleted once, on the step's second attempt.
func TestRetryDelayCountsTheStepsAttempts(t *testing.T) {
	var crashes atomic.Int32
	hooks := responders.Hooks{BeforeStep: func(_ context.Context, _, key string) error {
		if strings.HasSuffix(key, "/verify") && crashes.Add(1) <= 3 {
			return fmt.Errorf("crash %d", crashes.Load())
		}
		return nil
	}}
	e := startWithPlaybook(t, onceRevokePlaybook, stack.Options{AckWait: time.Second, Hooks: hooks})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 47)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Status: 503})
	if code, _ := post(t, e, "d-crash-503", stack.AlertPayload("created", "acme/payments-api", 47, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 60*time.Second), id, stack.Terminal)
	if err != nil {
		t.Fatalf("%v (after %d crashes)", err, crashes.Load())
	}
	waitIdle(t, e)
	if crashes.Load() < 4 || in.State != incident.Contained {
		t.Fatalf("state %s (%s) after %d crash points, want contained after 3 crashes", in.State, in.Error, crashes.Load())
	}
	if rev := step(in, "revoke"); rev == nil || rev.Attempts != 2 || len(deleteTimes(e, keyID)) != 2 || len(e.OpenAI.Deletions()) != 1 {
		t.Fatalf("revoke step %+v, %d DELETEs, %d deletions: want the 503, then one deletion on the second attempt",
			rev, len(deleteTimes(e, keyID)), len(e.OpenAI.Deletions()))
	}
	for _, r := range auditRecords(t, e, id) {
		if r.Kind == audit.KindStepRetrying && r.Step == "revoke" && r.Detail != "redelivery in 1s" {
			t.Fatalf("retrying record: %q, want a redelivery in 1s (the step's first failure)", r.Detail)
		}
	}
}
