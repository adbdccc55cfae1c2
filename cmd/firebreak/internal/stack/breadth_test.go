package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// owner is where an incident's owner must have been told.
type owner struct {
	rule, slackChannel, email, pdService string
}

// expect waits for the incident, then checks the outcome at the emulators and
// that the owner was told through the channels the owner resolution chose.
func expect(t *testing.T, s *stack.Stack, seen *[]string, id, raw string, state incident.State, o owner, mustSay ...string) *incident.Incident {
	t.Helper()
	*seen = append(*seen, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := s.WaitIncident(ctx, id, stack.Terminal)
	if err != nil {
		t.Fatalf("incident: %v", err)
	}
	if in.State != state {
		t.Fatalf("incident state %s (error %q), want %s; steps %+v", in.State, in.Error, state, in.Steps)
	}
	if in.Owner == nil || in.Owner.Rule != o.rule {
		t.Fatalf("owner %+v, want rule %s", in.Owner, o.rule)
	}
	b := s.Breadth
	var said []string
	for _, m := range b.SlackAPI.Messages() {
		if m.Channel == o.slackChannel && strings.Contains(m.Text+string(m.Blocks), in.ID) {
			said = append(said, m.Text+string(m.Blocks))
		}
	}
	if len(said) == 0 {
		t.Fatalf("nothing posted to the owner's Slack channel %s", o.slackChannel)
	}
	var mailed bool
	for _, m := range b.SMTP.Messages() {
		body, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.Body)))
		for _, to := range m.To {
			if to == o.email && strings.Contains(string(body), in.ID) {
				mailed = true
				said = append(said, string(body))
			}
		}
		providertest.AssertNoSecret(t, raw, string(m.Data))
	}
	if !mailed {
		t.Fatalf("no email to the owner %s", o.email)
	}
	if o.pdService != "" {
		a, ok := b.PagerDuty.Alert(o.pdService, in.ID)
		if !ok || a.Status != "triggered" || a.Severity != "critical" {
			t.Fatalf("no page on PagerDuty service %s for %s: %+v", o.pdService, in.ID, a)
		}
		said = append(said, a.Summary)
	}
	all := strings.Join(said, "\n")
	for _, w := range mustSay {
		if !strings.Contains(all, w) {
			t.Errorf("the owner was not told %q:\n%s", w, all)
		}
	}
	rec, _ := json.Marshal(in)
	providertest.AssertNoSecret(t, raw, string(rec), all)
	for _, m := range b.SlackAPI.Messages() {
		providertest.AssertNoSecret(t, raw, m.Text+string(m.Blocks))
	}
	return in
}

func step(in *incident.Incident, id string) *incident.Step {
	for i := range in.Steps {
		if in.Steps[i].ID == id {
			return &in.Steps[i]
		}
	}
	return nil
}

// sink is a log-sink route as a shipper reaches it: its path, the scheme of
// its token, the content type it is sent and the status it answers with.
type sink struct {
	path, scheme, contentType string
	status                    int
}

var (
	ndjsonSink = sink{"/v1/ingest/logs", "Bearer", "application/x-ndjson", http.StatusAccepted}
	hecSink    = sink{"/services/collector/event", "Splunk", "application/json", http.StatusOK}
	hecRawSink = sink{"/services/collector/raw", "Splunk", "text/plain", http.StatusOK}
	lokiSink   = sink{"/loki/api/v1/push", "Bearer", "application/json", http.StatusNoContent}
)

// ship posts body to a log sink with the stack's ingest token (query is the
// route's query string, "" for none) and checks the answer, which must not
// echo the key.
func ship(t *testing.T, e *env, to sink, query string, body []byte, raw string) {
	t.Helper()
	tok, err := e.IngestToken()
	if err != nil {
		t.Fatal(err)
	}
	code, answer, err := e.Post(ctxT(t, 30*time.Second), to.path+query, body, "Authorization", to.scheme+" "+tok, "Content-Type", to.contentType)
	if err != nil || code != to.status {
		t.Fatalf("POST %s: %d %s %v", to.path, code, answer, err)
	}
	providertest.AssertNoSecret(t, raw, string(answer))
}

// ndjson is one NDJSON log entry whose message is msg.
func ndjson(msg string, fields map[string]string) []byte {
	m := map[string]string{"msg": msg, "level": "error"}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return append(b, '\n')
}

// audited checks the incident's audit chain as stored on the audit stream:
// the step's step.succeeded record is there, the chain verifies (no gap, no
// repeat, every prev hash matches), the incident's head is its last record,
// and no record carries the key. It returns the step's record.
func audited(t *testing.T, e *env, in *incident.Incident, stepID, raw string) audit.Record {
	t.Helper()
	stored := auditStored(t, e, in.ID)
	var raws [][]byte
	var kinds []string
	var got *audit.Record
	for i, st := range stored {
		raws = append(raws, st.Raw)
		kinds = append(kinds, st.Record.Kind+" "+st.Record.Step)
		if got == nil && st.Record.Kind == audit.KindStepSucceeded && st.Record.Step == stepID {
			got = &stored[i].Record
		}
		providertest.AssertNoSecret(t, raw, string(st.Raw))
	}
	if got == nil {
		t.Fatalf("no %s record for step %s in the audit chain of %s:\n  %s", audit.KindStepSucceeded, stepID, in.ID, strings.Join(kinds, "\n  "))
	}
	if problems := audit.Verify(raws); len(problems) > 0 {
		t.Fatalf("audit chain of %s: %v", in.ID, problems)
	}
	if in.AuditSeq != uint64(len(raws)) {
		t.Fatalf("incident %s: audit head at seq %d, the stream holds %d records", in.ID, in.AuditSeq, len(raws))
	}
	return *got
}

// TestProvidersEndToEnd drives every provider beyond OpenAI and GitHub the
// way a leak reaches Firebreak: a GitHub alert for Anthropic, a log line
// holding the key, shipped to one of the log sinks (Loki, NDJSON, Splunk HEC
// event and raw) for the others. Each case checks the provider emulator (the
// key revoked, or untouched and escalated), the owner told where owner
// resolution chose, the revoke step's outcome in the incident's audit chain
// with the chain intact, and the key in none of the route's answers, the
// incident, the notifications, the audit records or Firebreak's log.
//
// No case publishes onto the bus directly (stack.PublishLeak): every key
// format here is one the detectors find in free text, so the HTTP routes
// carry them all.
func TestProvidersEndToEnd(t *testing.T) {
	e := start(t, stack.Options{})
	var raws []string
	defer func() {
		if !strings.Contains(e.logs.String(), `"incident"`) {
			t.Error("no log line was captured: the secret check below would prove nothing")
		}
		for _, raw := range raws {
			providertest.AssertNoSecret(t, raw, e.logs.String())
		}
	}()
	b := e.Breadth
	ctx := context.Background()
	checkout := owner{rule: "owners_file:checkout-logs", slackChannel: b.CheckoutChannel, email: "checkout@example.com"}
	sec := owner{rule: "default", slackChannel: b.SecChannel, email: "security@example.com"}
	source := func(t *testing.T, in *incident.Incident, want string) {
		t.Helper()
		if len(in.Exposures) != 1 || in.Exposures[0].Source != want {
			t.Fatalf("exposures %+v, want one from %s", in.Exposures, want)
		}
	}

	t.Run("anthropic-github-alert-codeowners", func(t *testing.T) {
		raw, keyID := b.Anthropic.AddKey("wrkspc_1", "user_1")
		e.GitHub.AddRepo("acme", "api")
		e.GitHub.SetFile("acme", "api", ".github/CODEOWNERS", "*        @acme/everyone\nconfig/  @acme/platform\n")
		n := e.GitHub.AddAlert("acme", "api", "anthropic_api_key", raw, githubemu.Location{Path: "config/settings.py", StartLine: 4, EndLine: 4})
		status, body, err := e.PostGitHub(ctx, "secret_scanning_alert", "d-anthropic", stack.AlertWebhook("acme/api", n, "anthropic_api_key"))
		if err != nil || status != 202 {
			t.Fatalf("webhook: %d %s %v", status, body, err)
		}
		in := expect(t, e.Stack, &raws, e.IncidentFor(raw), raw, incident.Contained,
			owner{rule: "codeowners", slackChannel: b.PlatformChannel, email: "platform@example.com"}, "Firebreak revoked", "Anthropic")
		if st := b.Anthropic.Status(keyID); st != "inactive" {
			t.Fatalf("key status %q", st)
		}
		audited(t, e, in, "revoke", raw)
	})

	// An AWS key pair printed on one line: the detector pairs the secret
	// with its access key id, so the secret's incident knows which key to
	// deactivate.
	t.Run("aws-loki-owners-labels", func(t *testing.T) {
		b.AWS.AddUser("checkout-svc", false)
		akid, sk := b.AWS.AddKey("checkout-svc")
		b.AWS.Quarantine("checkout-svc") // AWS's own quarantine does not stop Firebreak's principal
		push, _ := json.Marshal(map[string]any{"streams": []any{map[string]any{
			"stream": map[string]string{"app": "checkout", "namespace": "checkout", "env": "prod"},
			"values": [][2]string{{strconv.FormatInt(time.Now().UnixNano(), 10),
				"boto3: session from env AWS_ACCESS_KEY_ID=" + akid + " AWS_SECRET_ACCESS_KEY=" + sk}},
		}}})
		ship(t, e, lokiSink, "", push, sk)
		in := expect(t, e.Stack, &raws, e.IncidentFor(sk), sk, incident.Contained, checkout, "revoked AWS key")
		source(t, in, exposure.SourceLoki)
		if in.KeyID != akid || in.SecretType != "aws_secret_access_key" {
			t.Fatalf("the secret was not paired with its access key id: type %s, key id %q", in.SecretType, in.KeyID)
		}
		if st := b.AWS.KeyStatus(akid); st != "Inactive" {
			t.Fatalf("access key status %q", st)
		}
		var updates int
		for _, c := range b.AWS.Calls() {
			if c.Action == "UpdateAccessKey" {
				updates++
				if c.Principal != "firebreak-responder" || c.Params.Get("AccessKeyId") != akid || c.Params.Get("Status") != "Inactive" {
					t.Fatalf("UpdateAccessKey %v signed by %s", c.Params, c.Principal)
				}
			}
		}
		if updates == 0 {
			t.Fatal("no UpdateAccessKey at the AWS emulator")
		}
		audited(t, e, in, "revoke", sk)
	})

	t.Run("google-ndjson", func(t *testing.T) {
		raw, _ := b.Google.AddKey("proj-checkout", false)
		ship(t, e, ndjsonSink, "?namespace=checkout&service=checkout-api", ndjson("gemini call failed, key="+raw, map[string]string{"request_id": "r-17"}), raw)
		in := expect(t, e.Stack, &raws, e.IncidentFor(raw), raw, incident.Contained, checkout, "revoked Google API key")
		source(t, in, exposure.SourceLogs)
		if b.Google.Live(raw) {
			t.Fatal("key still live")
		}
		audited(t, e, in, "revoke", raw)
	})

	t.Run("slack-token-hec-event", func(t *testing.T) {
		raw := b.SlackAPI.AddToken("xoxp-", "intern", "acme")
		ship(t, e, hecSink, "", []byte(`{"host":"ops-bot-1","sourcetype":"app","event":{"log":"slack client init token=`+raw+`"}}`), raw)
		// auth.test names the token's user: the provider rule answers; with
		// no contact of their own, the default's channels are told.
		who := sec
		who.rule = "provider:slack"
		in := expect(t, e.Stack, &raws, e.IncidentFor(raw), raw, incident.Contained, who, "revoked Slack key", "you are its owner (provider:slack)")
		source(t, in, exposure.SourceSplunkHEC)
		if b.SlackAPI.Live(raw) {
			t.Fatal("token still live")
		}
		audited(t, e, in, "revoke", raw)
	})

	t.Run("stripe-hec-raw", func(t *testing.T) {
		raw := b.Stripe.AddSecretKey()
		ship(t, e, hecRawSink, "?host=billing-1&sourcetype=app", []byte("boot ok\nstripe.api_key = "+raw+"\n"), raw)
		in := expect(t, e.Stack, &raws, e.IncidentFor(raw), raw, incident.Contained, sec, "revoked Stripe key")
		source(t, in, exposure.SourceSplunkHEC)
		if b.Stripe.Live(raw) {
			t.Fatal("key still live")
		}
		audited(t, e, in, "revoke", raw)
	})

	// Providers without a revocation API: the revoke step escalates, the
	// owner is paged with the manual action and the console URL, and the key
	// is untouched (the incident completes; it is not contained).
	escalations := []struct {
		name, console, query string
		mint                 func() string
		live                 func(string) bool
		who                  owner
	}{
		{"huggingface", "https://huggingface.co/settings/tokens", "?namespace=checkout",
			func() string { return b.HF.AddToken("ada", "ada@example.com") }, b.HF.Live, checkout},
		{"groq", "https://console.groq.com/keys", "?app=worker", b.Groq.AddKey, b.Groq.Live, sec},
		{"perplexity", "https://www.perplexity.ai/account/api/keys", "?namespace=checkout", b.Perplexity.AddKey, b.Perplexity.Live, checkout},
		{"xai", "https://console.x.ai", "?app=worker", func() string { return b.XAI.AddKey("user-1", "team-1") }, b.XAI.Live,
			owner{rule: "provider:xai", slackChannel: b.SecChannel, email: "security@example.com"}},
		{"replicate", "https://replicate.com/account/api-tokens", "?namespace=checkout",
			func() string { return b.Replicate.AddToken("acme") }, b.Replicate.Live, checkout},
	}
	for _, tc := range escalations {
		t.Run(tc.name+"-ndjson-escalates", func(t *testing.T) {
			raw := tc.mint()
			ship(t, e, ndjsonSink, tc.query, ndjson("client init with key "+raw, nil), raw)
			who := tc.who
			who.pdService = "security" // the default notifier: the owner names no PagerDuty service
			if who.rule == checkout.rule {
				who.pdService = "payments"
			}
			in := expect(t, e.Stack, &raws, e.IncidentFor(raw), raw, incident.Completed, who, "ACTION NEEDED", tc.console)
			source(t, in, exposure.SourceLogs)
			if rv := step(in, "revoke"); rv == nil || rv.Outputs["action"] != "escalated" || rv.Outputs["revoked"] != false {
				t.Fatalf("revoke step %+v", rv)
			}
			if in.RevokedAt != nil {
				t.Fatal("an escalation was recorded as a revocation")
			}
			if !tc.live(raw) {
				t.Fatal("the emulator no longer accepts the key after an escalation")
			}
			if rec := audited(t, e, in, "revoke", raw); !strings.Contains(rec.Detail, tc.console) {
				t.Fatalf("the audit record of the revoke step does not name the console: %q", rec.Detail)
			}
		})
	}
}
