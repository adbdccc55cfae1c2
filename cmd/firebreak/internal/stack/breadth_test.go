package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
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

func payments(path string) exposure.Location {
	return exposure.Location{Repo: "acme/payments-api", Path: path, Line: 3, URL: "https://github.com/acme/payments-api/blob/main/" + path}
}

func TestProvidersEndToEnd(t *testing.T) {
	log, logs := providertest.NewLogger() // debug: every line Firebreak logs is checked for secrets
	s, err := stack.Start(context.Background(), stack.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var raws []string
	defer func() {
		if !strings.Contains(logs.String(), `"incident"`) {
			t.Error("no log line was captured: the secret check below would prove nothing")
		}
		for _, raw := range raws {
			providertest.AssertNoSecret(t, raw, logs.String())
		}
	}()
	b := s.Breadth
	ctx := context.Background()
	pay := owner{rule: "owners_file:payments", slackChannel: b.PaymentsChannel, email: "payments@example.com"}
	sec := owner{rule: "default", slackChannel: b.SecChannel, email: "security@example.com"}

	t.Run("anthropic-github-alert-codeowners", func(t *testing.T) {
		raw, keyID := b.Anthropic.AddKey("wrkspc_1", "user_1")
		s.GitHub.AddRepo("acme", "api")
		s.GitHub.SetFile("acme", "api", ".github/CODEOWNERS", "*        @acme/everyone\nconfig/  @acme/platform\n")
		n := s.GitHub.AddAlert("acme", "api", "anthropic_api_key", raw, githubemu.Location{Path: "config/settings.py", StartLine: 4, EndLine: 4})
		status, body, err := s.PostGitHub(ctx, "secret_scanning_alert", "d-anthropic", stack.AlertWebhook("acme/api", n, "anthropic_api_key"))
		if err != nil || status != 202 {
			t.Fatalf("webhook: %d %s %v", status, body, err)
		}
		expect(t, s, &raws, s.IncidentFor(raw), raw, incident.Contained,
			owner{rule: "codeowners", slackChannel: b.PlatformChannel, email: "platform@example.com"}, "Firebreak revoked", "Anthropic")
		if st := b.Anthropic.Status(keyID); st != "inactive" {
			t.Fatalf("key status %q", st)
		}
	})

	t.Run("aws-logs-owners-labels", func(t *testing.T) {
		b.AWS.AddUser("checkout-svc", false)
		akid, sk := b.AWS.AddKey("checkout-svc")
		b.AWS.Quarantine("checkout-svc") // AWS's own quarantine does not stop Firebreak's principal
		id, err := s.PublishLeak(ctx, stack.Leak{Source: exposure.SourceLoki, Provider: "aws", Type: "aws_secret_access_key", Raw: sk, KeyID: akid,
			Location: exposure.Location{Stream: `{app="checkout"}`, Labels: map[string]string{"namespace": "checkout", "env": "prod"}}})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, s, &raws, id, sk, incident.Contained,
			owner{rule: "owners_file:checkout-logs", slackChannel: b.CheckoutChannel, email: "checkout@example.com"}, "revoked AWS key")
		if st := b.AWS.KeyStatus(akid); st != "Inactive" {
			t.Fatalf("access key status %q", st)
		}
		for _, c := range b.AWS.Calls() {
			if c.Action == "UpdateAccessKey" && c.Principal != "firebreak-responder" {
				t.Fatalf("UpdateAccessKey signed by %s", c.Principal)
			}
		}
	})

	t.Run("google-logs", func(t *testing.T) {
		raw, _ := b.Google.AddKey("proj-payments", false)
		id, err := s.PublishSecret(ctx, exposure.SourceLogs, "google", "google_api_key", raw, payments("deploy/values.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, s, &raws, id, raw, incident.Contained, pay, "revoked Google API key")
		if b.Google.Live(raw) {
			t.Fatal("key still live")
		}
	})

	t.Run("slack-token-ticket", func(t *testing.T) {
		raw := b.SlackAPI.AddToken("xoxp-", "intern", "acme")
		id, err := s.PublishSecret(ctx, exposure.SourceJira, "slack", "slack_api_token", raw, exposure.Location{Ticket: "OPS-7", URL: "https://acme.atlassian.net/browse/OPS-7"})
		if err != nil {
			t.Fatal(err)
		}
		// auth.test names the token's user: the provider rule answers; with
		// no contact of their own, the default's channels are told.
		who := sec
		who.rule = "provider:slack"
		expect(t, s, &raws, id, raw, incident.Contained, who, "revoked Slack key", "you are its owner (provider:slack)")
		if b.SlackAPI.Live(raw) {
			t.Fatal("token still live")
		}
	})

	t.Run("stripe-logs", func(t *testing.T) {
		raw := b.Stripe.AddSecretKey()
		id, err := s.PublishSecret(ctx, exposure.SourceLogs, "stripe", "stripe_api_key", raw, payments("billing/.env"))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, s, &raws, id, raw, incident.Contained, pay, "revoked Stripe key")
		if b.Stripe.Live(raw) {
			t.Fatal("key still live")
		}
	})

	// Providers without a revocation API: the revoke step escalates, the
	// owner is paged with the manual action and the console URL, and the key
	// is untouched (the incident completes; it is not contained).
	escalations := []struct {
		name, provider, typ, console string
		mint                         func() string
		live                         func(string) bool
		loc                          exposure.Location
		who                          owner
	}{
		{"huggingface", "huggingface", "hf_user_access_token", "https://huggingface.co/settings/tokens",
			func() string { return b.HF.AddToken("ada", "ada@example.com") }, b.HF.Live, payments("ml/train.py"), pay},
		{"groq", "groq", "groq_api_key", "https://console.groq.com/keys", b.Groq.AddKey, b.Groq.Live,
			exposure.Location{Stream: "app.log"}, sec},
		{"perplexity", "perplexity", "perplexity_api_key", "https://www.perplexity.ai/account/api/keys", b.Perplexity.AddKey, b.Perplexity.Live,
			payments("search/client.py"), pay},
		{"xai", "xai", "xai_api_key", "https://console.x.ai", func() string { return b.XAI.AddKey("user-1", "team-1") }, b.XAI.Live,
			exposure.Location{Stream: "worker.log"}, owner{rule: "provider:xai", slackChannel: b.SecChannel, email: "security@example.com"}},
		{"replicate", "replicate", "replicate_api_token", "https://replicate.com/account/api-tokens",
			func() string { return b.Replicate.AddToken("acme") }, b.Replicate.Live, payments("gen/images.py"), pay},
	}
	for _, tc := range escalations {
		t.Run(tc.name+"-escalates", func(t *testing.T) {
			raw := tc.mint()
			id, err := s.PublishSecret(ctx, exposure.SourceLogs, tc.provider, tc.typ, raw, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			who := tc.who
			who.pdService = "security" // the default notifier: the owner names no PagerDuty service
			if who.rule == pay.rule {
				who.pdService = "payments"
			}
			in := expect(t, s, &raws, id, raw, incident.Completed, who, "ACTION NEEDED", tc.console)
			if rv := step(in, "revoke"); rv == nil || rv.Outputs["action"] != "escalated" || rv.Outputs["revoked"] != false {
				t.Fatalf("revoke step %+v", rv)
			}
			if in.RevokedAt != nil {
				t.Fatal("an escalation was recorded as a revocation")
			}
			if !tc.live(raw) {
				t.Fatal("the emulator no longer accepts the key after an escalation")
			}
		})
	}
}
