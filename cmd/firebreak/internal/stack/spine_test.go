package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// syncBuffer is a goroutine-safe log sink the canary checks grep.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	*stack.Stack
	logs *syncBuffer
}

func start(t *testing.T, opts stack.Options) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	opts.Log = log
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	st, err := stack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			t.Logf("firebreak log (tail):\n%s", tail(logs.String(), 4000))
		}
	})
	return &env{Stack: st, logs: logs}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func post(t *testing.T, e *env, delivery string, body []byte) (int, map[string]any) {
	t.Helper()
	code, b, err := e.PostGitHub(context.Background(), "secret_scanning_alert", delivery, body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func deletes(s *emulator.Server) int { return s.Count("DELETE /v1/organization/projects/") }

// TestSignedAlertIsRevokedNotifiedAndAudited is the spine end to end: a signed
// secret_scanning_alert in; the DELETE of the right key id at the OpenAI
// emulator; the Slack message; the incident contained; every step in order in
// the audit stream, on an intact hash chain.
func TestSignedAlertIsRevokedNotifiedAndAudited(t *testing.T) {
	e := start(t, stack.Options{})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 17)
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "testdata", "github", "alert-created-openai.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, resp := post(t, e, "d-spine-1", body)
	if code != http.StatusAccepted || !strings.HasPrefix(fmt.Sprint(resp["exposure_id"]), "exp_") {
		t.Fatalf("ingest answered %d %v", code, resp)
	}
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 20*time.Second), id, stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Contained || in.RevokedAt == nil || in.NotifiedAt == nil {
		t.Fatalf("incident %s: state %s revoked %v notified %v (%s)", id, in.State, in.RevokedAt, in.NotifiedAt, in.Error)
	}
	// The OpenAI emulator received exactly one DELETE, for the right key.
	var dels []string
	for _, r := range e.OpenAI.Server().Requests() {
		if r.Method == http.MethodDelete {
			dels = append(dels, r.Path)
		}
	}
	if len(dels) != 1 || !strings.HasSuffix(dels[0], "/api_keys/"+keyID) {
		t.Fatalf("DELETEs at the OpenAI emulator: %v, want one for %s", dels, keyID)
	}
	if e.OpenAI.Live(raw) {
		t.Fatal("the leaked key is still live at the emulator")
	}
	// The alert was written back: resolved as revoked, naming the incident.
	if st, res, comment := e.GitHub.AlertState("acme", "payments-api", 17); st != "resolved" || res != "revoked" || !strings.Contains(comment, id) {
		t.Fatalf("alert after revocation: %s/%s %q, want resolved/revoked naming %s", st, res, comment, id)
	}
	// Slack got the Block Kit message naming the incident and the redacted key.
	msgs := e.Slack.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Slack messages: %d, want 1", len(msgs))
	}
	text := msgs[0].AllText()
	for _, want := range []string{id, secret.Hint(secret.New(raw)), "acme/payments-api", "Revoked"} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack message lacks %q:\n%s", want, text)
		}
	}
	if len(e.Webhook.Deliveries()) != 1 {
		t.Errorf("signed webhook deliveries: %d, want 1", len(e.Webhook.Deliveries()))
	}
	// The audit stream holds every step's start and outcome, in order, on an
	// intact chain.
	var kinds []string
	var raws [][]byte
	for _, st := range auditStored(t, e, id) {
		kinds = append(kinds, st.Record.Kind+" "+st.Record.Step)
		raws = append(raws, st.Raw)
	}
	want := []string{
		"incident.created ", "owner.resolved ", "playbook.matched ", "playbook.matched ",
		"step.started verify", "step.succeeded verify",
		"step.started revoke", "step.succeeded revoke",
		"step.started notify", "step.succeeded notify",
		"step.started notify_webhook", "step.succeeded notify_webhook",
		"step.started resolve_alert", "step.succeeded resolve_alert", // write-back (writeback-github-alert)
		"incident.contained ",
	}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("audit records:\n  %s\nwant:\n  %s", strings.Join(kinds, "\n  "), strings.Join(want, "\n  "))
	}
	if problems := audit.Verify(raws); len(problems) > 0 {
		t.Fatalf("audit chain: %v", problems)
	}
	if in.AuditSeq != uint64(len(raws)) {
		t.Fatalf("incident audit head at seq %d, stream holds %d records", in.AuditSeq, len(raws))
	}
	// The records are stored a stretch of work to a message (one per write
	// of the incident), not one message each.
	stored := map[uint64]bool{}
	for _, st := range auditStored(t, e, id) {
		stored[st.StreamSeq] = true
	}
	if len(stored) >= len(raws) {
		t.Errorf("%d audit records in %d stream messages: written one by one", len(raws), len(stored))
	}
	// The metrics an on-call reads: time to revoke, step outcomes, exposures.
	metrics := string(getJSON(t, e.URL+"/metrics", "").raw)
	for _, want := range []string{
		`firebreak_time_to_revoke_seconds_count{provider="openai"} 1`,
		`firebreak_steps_total{action="provider.revoke",outcome="succeeded",provider="openai"} 1`,
		`firebreak_exposures_total{environment="unknown",provider="openai",source="github"} 1`,
		`firebreak_exposures_processed_total{outcome="contained",provider="openai",source="github"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The control API shows the incident to an admin, and nothing to others.
	tok, _ := os.ReadFile(filepath.Join(e.App.Cfg.DataDir, "admin-token"))
	if got := getJSON(t, e.URL+"/v1/incidents/"+id, ""); got.code != http.StatusUnauthorized {
		t.Fatalf("incident without a token: %d", got.code)
	}
	got := getJSON(t, e.URL+"/v1/incidents/"+id, strings.TrimSpace(string(tok)))
	if got.code != http.StatusOK || got.body["state"] != "contained" {
		t.Fatalf("GET incident: %d %v", got.code, got.body)
	}
}

type jsonResp struct {
	code int
	body map[string]any
	raw  []byte
}

func getJSON(t *testing.T, url, token string) jsonResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return jsonResp{code: resp.StatusCode, body: m, raw: b}
}

// TestBadRequestsPublishNothing: unsigned, wrongly signed, malformed and
// oversized requests get their 4xx with a message, and nothing reaches the bus.
func TestBadRequestsPublishNothing(t *testing.T) {
	e := start(t, stack.Options{Configure: nil})
	body := stack.AlertPayload("created", "acme/app", 1, "openai_api_key")
	send := func(mutate func(*http.Request), b []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/ingest/github", bytes.NewReader(b))
		req.Header.Set("X-GitHub-Event", "secret_scanning_alert")
		req.Header.Set("X-GitHub-Delivery", "d-bad")
		req.Header.Set("X-Hub-Signature-256", signature(e, b))
		mutate(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil || m["error"] == "" {
			t.Errorf("answer is not {\"error\": ...}: %s", out)
		}
		return resp.StatusCode, m["error"]
	}
	cases := []struct {
		name   string
		mutate func(*http.Request)
		body   []byte
		code   int
		msg    string
	}{
		{"unsigned", func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }, body, 401, "missing X-Hub-Signature-256"},
		{"wrong signature", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32)) }, body, 401, "does not match"},
		{"signed with another secret", func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+fmt.Sprintf("%x", bytes.Repeat([]byte{1}, 32)))
		}, body, 401, "does not match"},
		{"malformed signature", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha1=abc") }, body, 401, "sha256="},
		{"malformed JSON", func(r *http.Request) {}, []byte(`{"action": "created", "alert": {`), 400, "malformed JSON"},
		{"wrong JSON type", func(r *http.Request) {}, []byte(`{"action": "created", "alert": {"number": "seven"}}`), 400, `field "alert.number"`},
		{"missing fields", func(r *http.Request) {}, []byte(`{"action": "created", "alert": {}}`), 400, "payload is missing alert.number, alert.secret_type, repository.full_name"},
		{"no event header", func(r *http.Request) { r.Header.Del("X-GitHub-Event") }, body, 400, "X-GitHub-Event"},
		{"no delivery header", func(r *http.Request) { r.Header.Del("X-GitHub-Delivery") }, body, 400, "X-GitHub-Delivery"},
		{"oversized", func(r *http.Request) {}, append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 26<<20)...), []byte(`"}`)...), 413, "exceeds"},
		{"bad gzip", func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") }, []byte("not gzip"), 400, "Content-Encoding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := send(c.mutate, c.body)
			if code != c.code || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %q, want %d containing %q", code, msg, c.code, c.msg)
			}
		})
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 0 {
		t.Fatalf("%d exposures published from rejected requests", n)
	}
	// A ping and an event Firebreak does not handle are answered, not published.
	code, _, _ := e.PostGitHub(context.Background(), "ping", "d-ping", []byte(`{"zen":"hi"}`))
	if code != http.StatusOK {
		t.Fatalf("ping: %d", code)
	}
	code, _, _ = e.PostGitHub(context.Background(), "push", "d-push", []byte(`{}`))
	if code != http.StatusAccepted {
		t.Fatalf("unhandled event: %d", code)
	}
	code, _, _ = e.PostGitHub(context.Background(), "secret_scanning_alert", "d-assigned", stack.AlertPayload("assigned", "acme/app", 1, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("unhandled action: %d", code)
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 0 {
		t.Fatalf("%d exposures published from ignored events", n)
	}
}

func signature(e *env, b []byte) string {
	return ghSignature(e.WebhookSecret, b)
}

// TestOneIncidentPerSecret: the same delivery twice, and the same secret from
// two alerts posted at once, make one incident and one revocation.
func TestOneIncidentPerSecret(t *testing.T) {
	e := start(t, stack.Options{})
	raw, _ := e.LeakOpenAI("acme/payments-api", 17)
	e.GitHub.AddAlertNumber("acme", "ml-notebooks", 9, "openai_api_key", raw)
	e.GitHub.AddAlertNumber("acme", "ml-notebooks", 10, "openai_api_key", raw)

	first := stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key")
	code, resp := post(t, e, "d-same", first)
	if code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %v", code, resp)
	}
	code, resp = post(t, e, "d-same", first)
	if code != http.StatusOK || resp["duplicate"] != true {
		t.Fatalf("redelivery: %d %v, want 200 duplicate", code, resp)
	}
	var wg sync.WaitGroup
	for i, n := range []int64{9, 10} {
		wg.Add(1)
		go func(i int, n int64) {
			defer wg.Done()
			if code, resp := post(t, e, fmt.Sprintf("d-other-%d", i), stack.AlertPayload("publicly_leaked", "acme/ml-notebooks", n, "openai_api_key")); code != http.StatusAccepted {
				t.Errorf("alert %d: %d %v", n, code, resp)
			}
		}(i, n)
	}
	wg.Wait()
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 20*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Contained && len(in.Exposures) == 3
	})
	if err != nil {
		t.Fatal(err)
	}
	// Let any stray redelivery run before counting.
	waitIdle(t, e)
	if n := deletes(e.OpenAI.Server()); n != 1 {
		t.Fatalf("OpenAI saw %d DELETEs, want 1", n)
	}
	if n := len(e.Slack.Messages()); n != 1 {
		t.Fatalf("Slack got %d messages, want 1", n)
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 3 {
		t.Fatalf("stream holds %d exposures, want 3 (the redelivery made none)", n)
	}
	list, _ := e.App.Incidents.List(context.Background())
	if len(list) != 1 || len(in.Exposures) != 3 {
		t.Fatalf("incidents: %d, exposures on it: %d", len(list), len(in.Exposures))
	}

	// A redelivery days later (after a restart) is still recognised.
	if err := e.RestartApp(context.Background(), responders.Hooks{}); err != nil {
		t.Fatal(err)
	}
	code, resp = post(t, e, "d-same", first)
	if code != http.StatusOK || resp["duplicate"] != true {
		t.Fatalf("redelivery after restart: %d %v", code, resp)
	}
}

// waitContainedOnce waits until incident id satisfies done (nil: it is
// terminal) and the responders are idle, then requires it contained with
// exactly one DELETE at the OpenAI emulator. It returns the incident.
func waitContainedOnce(t *testing.T, e *env, id string, done func(*incident.Incident) bool) *incident.Incident {
	t.Helper()
	if done == nil {
		done = stack.Terminal
	}
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, done)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if in.State != incident.Contained {
		t.Fatalf("state %s: %s", in.State, in.Error)
	}
	if n := deletes(e.OpenAI.Server()); n != 1 {
		t.Fatalf("OpenAI received %d DELETE requests, want 1", n)
	}
	return in
}

// waitIdle waits until the responders' consumer has nothing pending or in flight.
func waitIdle(t *testing.T, e *env) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	for {
		c, err := e.App.JS.Consumer(ctx, exposure.StreamExposures, exposure.ConsumerResponders)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer never idle: %+v", info)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestRetryAfterIsHonoured: the OpenAI emulator answers the DELETE with 429
// and Retry-After: 2; the revoke is retried no sooner than 2s later and succeeds.
func TestRetryAfterIsHonoured(t *testing.T) {
	e := start(t, stack.Options{})
	raw, keyID := e.LeakOpenAI("acme/payments-api", 17)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Status: 429, RetryAfter: "2"})
	post(t, e, "d-429", stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key"))
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(raw), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Contained {
		t.Fatalf("state %s: %s", in.State, in.Error)
	}
	var at []time.Time
	for _, r := range e.OpenAI.Server().Requests() {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.Path, keyID) {
			at = append(at, r.At)
		}
	}
	if len(at) != 2 {
		t.Fatalf("DELETE attempts: %d, want 2 (429 then success)", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 2*time.Second {
		t.Fatalf("retried after %s, before Retry-After: 2 elapsed", gap)
	}
	if rev := in.Step("openai-key-exposed/revoke"); rev == nil || rev.State != incident.StepSucceeded {
		t.Fatalf("revoke step: %+v", rev)
	}
}

// TestRejectedAdminKeyFailsTheIncident: the admin key is refused (401): the
// incident fails with the reason, on_failure pages, the message is terminated
// and copied to the dead-letter stream, and no revocation happened.
func TestRejectedAdminKeyFailsTheIncident(t *testing.T) {
	e := start(t, stack.Options{})
	raw, _ := e.LeakOpenAI("acme/payments-api", 17)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects", Status: 401})
	post(t, e, "d-401", stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key"))
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 20*time.Second), id, func(in *incident.Incident) bool {
		return in.State == incident.Failed && in.Lease == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.Error, "HTTP 401") {
		t.Fatalf("incident error %q does not say why", in.Error)
	}
	if !e.OpenAI.Live(raw) || deletes(e.OpenAI.Server()) != 0 {
		t.Fatal("a revocation happened despite the rejected admin key")
	}
	msgs := e.Slack.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "could not finish") {
		t.Fatalf("on_failure page: %d messages", len(msgs))
	}
	if of := in.Step("openai-key-exposed/on_failure_0"); of == nil || of.State != incident.StepSucceeded {
		t.Fatalf("on_failure step: %+v", of)
	}
	waitIdle(t, e)
	dead := bustest.StreamMessages(t, e.App.JS, exposure.StreamDead)
	if len(dead) != 1 || dead[0].Header.Get("Firebreak-Incident") != id || !strings.Contains(dead[0].Header.Get("Firebreak-Reason"), "401") {
		t.Fatalf("dead letters: %d", len(dead))
	}

	// The same exposure delivered again (an ack or term lost, a second
	// delivery in flight): the failed incident is not run again.
	e.OpenAI.Server().Reset()
	stored := bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)
	if len(stored) != 1 {
		t.Fatalf("%d exposures stored", len(stored))
	}
	if _, err := e.App.JS.Publish(ctxT(t, 5*time.Second), stored[0].Subject, stored[0].Data, jetstream.WithMsgID("again")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if n := len(e.OpenAI.Server().Requests()); n != 0 {
		t.Fatalf("the failed incident ran again: %d OpenAI requests", n)
	}
	if again, _, err := e.App.Incidents.Get(ctxT(t, 5*time.Second), id); err != nil || again.State != incident.Failed {
		t.Fatalf("incident after the second delivery: %+v %v", again, err)
	}
}

// TestCrashMidPlaybookRevokesOnce stops the responder abruptly at every step
// boundary of the built-in playbooks' run on a leaked OpenAI key: before each
// step's start is recorded, and after each step's action returned but before
// its outcome is recorded (for the revocation: made but unrecorded). The
// boundaries are those a normal run passes, found by a first run, so a step
// added to the built-ins is covered without editing the test. Each time the
// redelivery must complete the incident with exactly one revocation.
func TestCrashMidPlaybookRevokesOnce(t *testing.T) {
	var keys []string // playbook/step, in the order a normal run starts them
	{
		var mu sync.Mutex
		e := start(t, stack.Options{Hooks: responders.Hooks{BeforeStep: func(_ context.Context, _, key string) error {
			mu.Lock()
			keys = append(keys, key)
			mu.Unlock()
			return nil
		}}})
		raw, _ := e.LeakOpenAI("acme/payments-api", 17)
		post(t, e, "d-reference", stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key"))
		waitContainedOnce(t, e, e.IncidentFor(raw), allStepsDone)
	}
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, "/revoke") }) || len(keys) < 4 {
		t.Fatalf("the reference run started steps %v; want verify, revoke and the notifications", keys)
	}
	crashAt := func(want string, crash func() bool) func(context.Context, string, string) error {
		return func(_ context.Context, _, key string) error {
			if key == want && crash() {
				return fmt.Errorf("crash")
			}
			return nil
		}
	}
	for _, key := range keys {
		for _, when := range []string{"before", "after"} {
			t.Run(when+" "+key, func(t *testing.T) {
				var once sync.Once
				crashed := make(chan struct{})
				crash := func() bool {
					hit := false
					once.Do(func() { hit = true; close(crashed) })
					return hit
				}
				var hooks responders.Hooks
				if when == "before" {
					hooks.BeforeStep = crashAt(key, crash) // before its start is recorded
				} else {
					hooks.AfterAction = crashAt(key, crash) // done, its outcome unrecorded
				}
				e := start(t, stack.Options{AckWait: 2 * time.Second, Hooks: hooks})
				raw, _ := e.LeakOpenAI("acme/payments-api", 17)
				post(t, e, "d-crash", stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key"))
				select {
				case <-crashed:
				case <-time.After(20 * time.Second):
					t.Fatal("the crash point was never reached")
				}
				waitContainedOnce(t, e, e.IncidentFor(raw), allStepsDone)
				if n := len(e.OpenAI.Deletions()); n != 1 {
					t.Fatalf("the key was deleted %d times, want exactly once", n)
				}
				if len(e.Slack.Messages()) == 0 {
					t.Fatal("the owner was never notified")
				}
			})
		}
	}
}

// allStepsDone: the incident is terminal, its owner notified and every step
// it started is done.
func allStepsDone(in *incident.Incident) bool {
	if !stack.Terminal(in) || in.NotifiedAt == nil {
		return false
	}
	for _, s := range in.Steps {
		if !s.State.Done() {
			return false
		}
	}
	return true
}

// TestRepeatedCrashesOutlastMaxDeliver crashes the responder at the start of
// the playbook more times than nats.max_deliver allows deliveries: crashes
// and lease waits spend deliveries, and a consumer that stopped redelivering
// after max_deliver dropped the exposure silently, leaving its incident
// "running" forever (found by the fault soak). The budget is a step's own
// failed attempts, so the incident still ends contained, revoked once.
func TestRepeatedCrashesOutlastMaxDeliver(t *testing.T) {
	var crashes atomic.Int32
	hooks := responders.Hooks{BeforeStep: func(_ context.Context, _, key string) error {
		if strings.HasSuffix(key, "/verify") && crashes.Add(1) <= 3 {
			return fmt.Errorf("crash %d", crashes.Load())
		}
		return nil
	}}
	e := start(t, stack.Options{AckWait: time.Second, MaxDeliver: 2, Hooks: hooks})
	raw, _ := e.LeakOpenAI("acme/payments-api", 21)
	post(t, e, "d-crashes", stack.AlertPayload("created", "acme/payments-api", 21, "openai_api_key"))
	in, err := e.WaitIncident(ctxT(t, 60*time.Second), e.IncidentFor(raw), func(in *incident.Incident) bool {
		return stack.Terminal(in) && in.NotifiedAt != nil
	})
	if err != nil {
		t.Fatalf("%v (after %d crashes)", err, crashes.Load())
	}
	if crashes.Load() < 4 {
		t.Fatalf("only %d crash points reached, want 3 crashes and a clean run", crashes.Load())
	}
	if in.State != incident.Contained {
		t.Fatalf("state %s: %s", in.State, in.Error)
	}
	if n := len(e.OpenAI.Deletions()); n != 1 {
		t.Fatalf("the key was deleted %d times, want exactly once", n)
	}
}

// setAuditRefusal makes the audit stream refuse every new record (as while
// a cluster's audit stream has no leader), or take them again.
func setAuditRefusal(ctx context.Context, js jetstream.JetStream, refuse bool) error {
	s, err := js.Stream(ctx, exposure.StreamAudit)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	cfg := info.Config
	cfg.MaxMsgs, cfg.Discard = -1, jetstream.DiscardOld
	if refuse {
		cfg.MaxMsgs, cfg.Discard = int64(info.State.Msgs), jetstream.DiscardNew
	}
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// TestLostAuditRecordStopsTheSession makes the audit stream refuse records
// right after the revocation, so the revoke step's outcome record cannot be
// stored: the responder must not go on as if it had been. Its next write of
// the incident fails, the session stops (logged) with the incident still
// showing the revoke step started, and nothing more is revoked. Once the
// stream takes records again, the redelivery resumes the revocation
// carefully: one DELETE in all, the incident contained, and an intact audit
// chain holding both attempts of the revoke step and every later outcome.
func TestLostAuditRecordStopsTheSession(t *testing.T) {
	var jsv atomic.Value
	refused := make(chan struct{})
	var once sync.Once
	hooks := responders.Hooks{AfterAction: func(ctx context.Context, _, key string) error {
		if !strings.HasSuffix(key, "/revoke") {
			return nil
		}
		var err error
		once.Do(func() {
			err = setAuditRefusal(ctx, jsv.Load().(jetstream.JetStream), true)
			close(refused)
		})
		return err
	}}
	e := start(t, stack.Options{AckWait: 2 * time.Second, Hooks: hooks})
	jsv.Store(e.App.JS)
	raw, keyID := e.LeakOpenAI("acme/payments-api", 23)
	id := e.IncidentFor(raw)
	if code, _ := post(t, e, "d-audit", stack.AlertPayload("created", "acme/payments-api", 23, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatal("the revocation never ran")
	}
	// The session stops; while the stream refuses, redeliveries stop too.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(e.logs.String(), "stopped before finishing") {
		if time.Now().After(deadline) {
			t.Fatal("the session went on without its audit records")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a redelivery or two while the stream still refuses
	if !strings.Contains(e.logs.String(), "audit record not stored") {
		t.Error("the lost audit record was not logged")
	}
	in, _, err := e.App.Incidents.Get(ctxT(t, 5*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	if s := step(in, "revoke"); s == nil || s.State != incident.StepStarted {
		t.Fatalf("while its outcome record is missing the incident shows revoke as %+v, want started", s)
	}
	if in.State.Terminal() {
		t.Fatalf("incident %s while its audit trail is incomplete", in.State)
	}
	if err := setAuditRefusal(ctxT(t, 5*time.Second), e.App.JS, false); err != nil {
		t.Fatal(err)
	}

	in = waitContainedOnce(t, e, id, nil)
	if e.OpenAI.Live(raw) {
		t.Fatalf("key %s still live", keyID)
	}
	var kinds []string
	var raws [][]byte
	for _, st := range auditStored(t, e, id) {
		kinds = append(kinds, st.Record.Kind+" "+st.Record.Step)
		raws = append(raws, st.Raw)
	}
	if problems := audit.Verify(raws); len(problems) > 0 {
		t.Fatalf("audit chain: %v", problems)
	}
	if in.AuditSeq != uint64(len(raws)) {
		t.Fatalf("incident audit head at seq %d, stream holds %d records", in.AuditSeq, len(raws))
	}
	got := strings.Join(kinds, "|")
	for _, want := range []string{
		"step.started revoke|step.started revoke|step.succeeded revoke",
		"step.started notify|step.succeeded notify", "step.started resolve_alert|step.succeeded resolve_alert|incident.contained ",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("audit records lack %q:\n  %s", want, strings.Join(kinds, "\n  "))
		}
	}
}

// TestLateWriteDoesNotOutliveTheLease holds a session up (as a slow bus
// would) until its incident lease has run out, just before it writes the
// intent record of the revocation: that write must not land and let the
// revocation go on, since another responder may take the incident over from
// the moment the lease ends. The session stops (logged); the redelivery
// revokes the key, once.
func TestLateWriteDoesNotOutliveTheLease(t *testing.T) {
	var once sync.Once
	held := make(chan struct{})
	hooks := responders.Hooks{BeforeStep: func(_ context.Context, _, key string) error {
		if strings.HasSuffix(key, "/revoke") {
			once.Do(func() {
				time.Sleep(2500 * time.Millisecond) // the lease (= ack wait) is 2 s
				close(held)
			})
		}
		return nil
	}}
	e := start(t, stack.Options{AckWait: 2 * time.Second, Hooks: hooks})
	raw, _ := e.LeakOpenAI("acme/payments-api", 29)
	if code, _ := post(t, e, "d-late", stack.AlertPayload("created", "acme/payments-api", 29, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the revocation was never reached")
	}
	waitContainedOnce(t, e, e.IncidentFor(raw), nil)
	if !strings.Contains(e.logs.String(), "before a write could land") {
		t.Error("the held-up session wrote after its lease ran out")
	}
}

// onceRevokePlaybook revokes OpenAI keys with a single in-process attempt, so
// that a failed revocation is retried through a redelivery.
const onceRevokePlaybook = `apiVersion: firebreak/v1
kind: Playbook
name: openai-once
match:
  providers: [openai]
steps:
  - id: verify
    uses: provider.verify
  - id: revoke
    uses: provider.revoke
    if: steps.verify.outputs.live
    retry: {attempts: 1}
`

// TestRetryAfterLostAnswerChecksTheKeyFirst loses the answer to the DELETE
// (the provider deleted the key; the connection dropped before the answer
// came back), with no in-process retry, so the revocation is retried through
// a redelivery. That retry must first ask whether the key is still live, not
// revoke blind: a failed attempt's effect may have landed. (Found by the
// fault soak: a retried revocation sent a second DELETE for a deleted key.)
func TestRetryAfterLostAnswerChecksTheKeyFirst(t *testing.T) {
	e := startWithPlaybook(t, onceRevokePlaybook, stack.Options{})
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Drop: true, AfterHandler: true})
	raw, _ := e.LeakOpenAI("acme/payments-api", 31)
	if code, _ := post(t, e, "d-lost", stack.AlertPayload("created", "acme/payments-api", 31, "openai_api_key")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	id := e.IncidentFor(raw)
	in := waitContainedOnce(t, e, id, nil) // 2 DELETEs: the retry revoked blind
	rev := step(in, "revoke")
	if rev == nil || rev.Attempts != 2 || rev.Outputs["already_revoked"] != true {
		t.Fatalf("revoke step %+v: want a second attempt that found the key no longer live", rev)
	}
	var details []string
	for _, r := range auditRecords(t, e, id) {
		if r.Kind == audit.KindStepStarted && r.Step == "revoke" {
			details = append(details, r.Detail)
		}
	}
	if len(details) != 2 || !strings.HasPrefix(details[1], "retrying after a failed attempt") {
		t.Fatalf("revoke step.started details %q", details)
	}
}
