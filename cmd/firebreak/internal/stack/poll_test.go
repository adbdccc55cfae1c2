package stack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/audit"
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

// patchGitHubAlert updates an alert through GitHub's API ("Update a secret
// scanning alert") as the person whose token it is would.
func patchGitHubAlert(t *testing.T, e *env, token, repo string, n int64, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/repos/%s/secret-scanning/alerts/%d", e.GitHub.URL(), repo, n), strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PATCH alert %s#%d %s: %d %s", repo, n, body, resp.StatusCode, b)
	}
}

// TestScheduledPollReopensAnAlertReopenedWithoutWebhook: people resolved an
// alert on GitHub and its resolved webhook resolved the incident — before
// Firebreak acted (a false positive, they thought), or after Firebreak had
// found the key dead. While Firebreak is down the key turns out live and
// someone reopens the alert on GitHub: the reopened webhook is lost, none is
// ever sent. Restarted with github.poll, the first pass lists the alert open
// and publishes it as reopened, and the responder does what the webhook
// would have made it do: the incident reopens (an incident.reopened record
// naming the alert, its action and the poll), the key is verified again,
// found live and revoked once, and people are told. A later pass publishes
// nothing. The key appears in no log
// line, exposure, audit record, KV entry or API answer.
func TestScheduledPollReopensAnAlertReopenedWithoutWebhook(t *testing.T) {
	const repo = "acme/payments-api"
	for _, tc := range []struct {
		name string
		n    int64
		// detail is in the incident.reopened record: the resolution it
		// ends, or the steps that run again.
		detail string
		// resolve brings the alert to resolved at GitHub and the incident
		// to Resolved, and returns the deliveries Firebreak received; the
		// key is not live yet unless it says so.
		resolve func(t *testing.T, e *env, raw, person string) (live bool, deliveries []string)
	}{
		{"resolved before Firebreak acted", 71, "false_positive", func(t *testing.T, e *env, raw, person string) (bool, []string) {
			e.OpenAI.AddKeyValue(e.OpenAI.AddProject("payments"), raw, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
			patchGitHubAlert(t, e, person, repo, 71, `{"state":"resolved","resolution":"false_positive"}`)
			postAlertAction(t, e, "pr-71-resolved", "resolved", repo, 71)
			return true, []string{"resolved pr-71-resolved"}
		}},
		// The first run's write-back found the key not revoked and was
		// skipped, so the reopened run writes the alert back too.
		{"resolved after Firebreak found the key dead", 72, "runs again: openai-key-exposed/verify", func(t *testing.T, e *env, raw, person string) (bool, []string) {
			postAlertAction(t, e, "pr-72-created", "created", repo, 72)
			in := waitState(t, e, e.IncidentFor(raw), incident.Completed)
			if s := in.Step("openai-key-exposed/revoke"); s == nil || s.State != incident.StepSkipped {
				t.Fatalf("revoke step of a dead key: %+v", s)
			}
			waitIdle(t, e)
			patchGitHubAlert(t, e, person, repo, 72, `{"state":"resolved","resolution":"wont_fix"}`)
			postAlertAction(t, e, "pr-72-resolved", "resolved", repo, 72)
			return false, []string{"created pr-72-created", "resolved pr-72-resolved"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			poll := false
			e := start(t, stack.Options{Configure: func(c *config.Config) {
				if poll {
					c.GitHub.Poll.Interval = config.Duration(30 * time.Second)
					c.GitHub.Poll.Repos = []string{repo}
				}
			}})
			raw := "sk-proj-" + strings.Repeat(fmt.Sprintf("%04x", 0x7e00+tc.n), 12)
			e.GitHub.AddAlertNumber("acme", "payments-api", tc.n, "openai_api_key", raw)
			id := e.IncidentFor(raw)
			person := e.GitHub.AddToken("ghp_", "maria-sec")
			live, deliveries := tc.resolve(t, e, raw, person)
			waitState(t, e, id, incident.Resolved)
			waitIdle(t, e)
			verifies, messages := e.OpenAI.Server().Count("GET /v1/me"), len(e.Slack.Messages())
			if n := e.OpenAI.Server().Count("DELETE /v1/organization/projects/"); n != 0 || e.OpenAI.Live(raw) != live {
				t.Fatalf("before the reopening: %d deletes, key live %v", n, e.OpenAI.Live(raw))
			}

			e.StopApp()
			if !live {
				e.OpenAI.AddKeyValue(e.OpenAI.AddProject("late"), raw, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
			}
			patchGitHubAlert(t, e, person, repo, tc.n, `{"state":"open"}`)
			if st, res, _ := e.GitHub.AlertState("acme", "payments-api", tc.n); st != "open" || res != "" {
				t.Fatalf("alert after reopening: %s/%s", st, res)
			}
			poll = true
			ctx := ctxT(t, 25*time.Second) // < the 30 s interval: the pass at start does it
			if err := e.RestartApp(ctx, responders.Hooks{}); err != nil {
				t.Fatal(err)
			}
			in := waitState(t, e, id, incident.Contained, incident.Completed, incident.Failed)
			waitIdle(t, e)
			if in.State != incident.Contained || e.OpenAI.Live(raw) || e.OpenAI.Server().Count("DELETE /v1/organization/projects/") != 1 {
				t.Fatalf("after the poll: incident %s (%s), key live %v, %d deletes", in.State, in.Error, e.OpenAI.Live(raw),
					e.OpenAI.Server().Count("DELETE /v1/organization/projects/"))
			}
			if n := e.OpenAI.Server().Count("GET /v1/me"); n <= verifies {
				t.Fatalf("the key was not verified again (%d verifies, was %d)", n, verifies)
			}
			if msgs := e.Slack.Messages(); len(msgs) != messages+1 || !strings.Contains(msgs[len(msgs)-1].AllText(), "Revoked") {
				t.Fatalf("%d Slack messages (was %d) after the reopening", len(msgs), messages)
			}
			ref := fmt.Sprintf("%s#%d", repo, tc.n)
			re := auditOfKind(t, e, id, audit.KindIncidentReopened)
			if len(re) != 1 || re[0].Data["action"] != "reopened" || re[0].Data["alert"] != ref ||
				re[0].Data["delivery"] != "poll:repo:"+repo || !strings.Contains(re[0].Detail, tc.detail) {
				t.Fatalf("incident.reopened records %+v, want one naming %s, action reopened, the poll and %q", re, ref, tc.detail)
			}
			if st, res, comment := e.GitHub.AlertState("acme", "payments-api", tc.n); st != "resolved" || res != "revoked" || !strings.Contains(comment, id) {
				t.Fatalf("alert after revocation: %s/%s %q", st, res, comment)
			}
			var actions []string
			for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
				ev, err := exposure.Decode(m.Data)
				must(t, err)
				actions = append(actions, ev.Alert.Action+" "+ev.Source.DeliveryID)
			}
			if want := append(deliveries, "reopened poll:repo:"+repo); strings.Join(actions, ", ") != strings.Join(want, ", ") {
				t.Fatalf("exposures on the stream: %v, want %v", actions, want)
			}
			if l := logLines(e, "backfilled alert"); len(l) != 1 || l[0]["action"] != "reopened" || l[0]["alert"] != ref {
				t.Fatalf("\"backfilled alert\" log lines: %v", l)
			}

			// A pass now publishes nothing: the alert is resolved again.
			tok := adminToken(t, e)
			code, body := api(t, e, http.MethodPost, "/v1/github/backfill", tok, map[string]any{"repos": []string{repo}})
			var out struct{ Stats ghingest.Stats }
			if code != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Stats.Published != 0 || out.Stats.Listed != out.Stats.Skipped {
				t.Fatalf("backfill after containment: %d %s", code, body)
			}

			texts := []string{e.logs.String(), string(body)}
			for _, stream := range []string{exposure.StreamExposures, exposure.StreamAudit} {
				for _, m := range bustest.StreamMessages(t, e.App.JS, stream) {
					texts = append(texts, m.Subject, string(m.Data))
				}
			}
			for _, bucket := range []string{exposure.BucketIncidents, exposure.BucketDeliveries, ghingest.BucketGitHub} {
				kv, err := e.App.JS.KeyValue(ctx, bucket)
				must(t, err)
				keys, err := kv.Keys(ctx)
				must(t, err)
				for _, k := range keys {
					v, err := kv.Get(ctx, k)
					must(t, err)
					texts = append(texts, k, string(v.Value()))
				}
			}
			_, inc := api(t, e, http.MethodGet, "/v1/incidents/"+id, tok, nil)
			texts = append(texts, string(inc))
			providertest.AssertNoSecret(t, raw, texts...)
		})
	}
}
