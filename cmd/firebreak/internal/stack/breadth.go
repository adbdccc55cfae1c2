package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/anthropic/anthropicemu"
	"github.com/firebreak-sec/firebreak/providers/aws/awsemu"
	"github.com/firebreak-sec/firebreak/providers/google/googleemu"
	"github.com/firebreak-sec/firebreak/providers/groq/groqemu"
	"github.com/firebreak-sec/firebreak/providers/huggingface/hfemu"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
	"github.com/firebreak-sec/firebreak/providers/notify/email/smtptest"
	"github.com/firebreak-sec/firebreak/providers/notify/pagerduty/pagerdutyemu"
	"github.com/firebreak-sec/firebreak/providers/notify/teams/teamsemu"
	"github.com/firebreak-sec/firebreak/providers/perplexity/perplexityemu"
	"github.com/firebreak-sec/firebreak/providers/replicate/replicateemu"
	"github.com/firebreak-sec/firebreak/providers/slack/slackapiemu"
	"github.com/firebreak-sec/firebreak/providers/stripe/stripeemu"
	"github.com/firebreak-sec/firebreak/providers/xai/xaiemu"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Breadth holds the emulators of the providers and notifiers beyond OpenAI,
// GitHub and Slack webhooks, and the owners the stack's owners file names.
type Breadth struct {
	Anthropic  *anthropicemu.Emulator
	AWS        *awsemu.Emulator
	Google     *googleemu.Emulator
	SlackAPI   *slackapiemu.Emulator // Slack tokens (provider) and chat.postMessage (notifier)
	Stripe     *stripeemu.Emulator
	HF         *hfemu.Emulator
	Groq       *groqemu.Emulator
	Perplexity *perplexityemu.Emulator
	XAI        *xaiemu.Emulator
	Replicate  *replicateemu.Emulator
	PagerDuty  *pagerdutyemu.Emulator
	Teams      *teamsemu.Emulator
	Jira       *jiraemu.Emulator
	SMTP       *smtptest.Server

	// Slack channel ids of the owners file's channels, and the bot's token.
	SecChannel, PaymentsChannel, CheckoutChannel, PlatformChannel string
	// OwnersFile is the path of the owners file the stack runs with.
	OwnersFile string
}

// Owners file of the stack (the channel ids are filled in at start):
// acme/payments-* belongs to payments, logs labelled namespace=checkout to
// checkout, everything else to security; @acme/platform (a CODEOWNERS team)
// is in the directory.
const ownersTemplate = `owners:
  - name: payments
    match: {repos: ["acme/payments-*"]}
    owner: {team: payments, slack: %q, email: payments@example.com, pagerduty: payments, jira: PAY}
  - name: checkout-logs
    match: {labels: {namespace: checkout}}
    owner: {team: checkout, slack: %q, email: checkout@example.com, pagerduty: payments}
directory:
  "@acme/platform": {team: platform, email: platform@example.com, slack: %q}
default: {team: security, slack: %q, email: security@example.com}
`

func (s *Stack) startBreadth() error {
	b := &Breadth{
		Anthropic: anthropicemu.New(), AWS: awsemu.New(), Google: googleemu.New(), SlackAPI: slackapiemu.New(), Stripe: stripeemu.New(),
		HF: hfemu.New(), Groq: groqemu.New(), Perplexity: perplexityemu.New(), XAI: xaiemu.New(), Replicate: replicateemu.New(),
		PagerDuty: pagerdutyemu.New(), Teams: teamsemu.New(), Jira: jiraemu.New(),
	}
	s.Breadth = b
	for _, e := range []interface{ Start() string }{b.Anthropic, b.AWS, b.Google, b.SlackAPI, b.Stripe, b.HF, b.Groq, b.Perplexity,
		b.XAI, b.Replicate, b.PagerDuty, b.Teams, b.Jira} {
		e.Start()
	}
	smtp, err := smtptest.Start("firebreak", randomHex(12))
	if err != nil {
		return err
	}
	b.SMTP = smtp

	// Firebreak's own credentials at each provider and notifier.
	b.AWS.AddUser("firebreak-responder", true)
	awsID, awsSK := b.AWS.AddKey("firebreak-responder")
	bot := b.SlackAPI.AddToken("xoxb-", "firebreak", "acme")
	b.SecChannel = b.SlackAPI.AddChannel("#sec-incidents", "UFIREBREAK")
	b.PaymentsChannel = b.SlackAPI.AddChannel("#payments-oncall", "UFIREBREAK")
	b.CheckoutChannel = b.SlackAPI.AddChannel("#checkout", "UFIREBREAK")
	b.PlatformChannel = b.SlackAPI.AddChannel("#platform", "UFIREBREAK")
	jiraTok := b.Jira.AddUser("firebreak@example.com")
	b.Jira.AddProject("SEC")
	b.Jira.AddProject("PAY")
	s.GitHub.AddRepo("acme", "security")
	ghIssues := s.GitHub.AddToken("ghp_", "firebreak-issues")
	for k, v := range map[string]string{
		"STACK_ANTHROPIC_ADMIN_KEY": b.Anthropic.AddAdminKey(),
		"STACK_AWS_ACCESS_KEY_ID":   awsID, "STACK_AWS_SECRET_ACCESS_KEY": awsSK,
		"STACK_GOOGLE_TOKEN":       b.Google.AddToken(),
		"STACK_STRIPE_MGMT_KEY":    b.Stripe.AddRestrictedKey(false, true),
		"STACK_SLACK_BOT_TOKEN":    bot,
		"STACK_SMTP_PASSWORD":      smtp.Password,
		"STACK_PD_SECURITY":        b.PagerDuty.AddService("security"),
		"STACK_PD_PAYMENTS":        b.PagerDuty.AddService("payments"),
		"STACK_TEAMS_WEBHOOK":      b.Teams.AddHook("Security"),
		"STACK_JIRA_TOKEN":         jiraTok,
		"STACK_GITHUB_ISSUE_TOKEN": ghIssues,
	} {
		s.env[k] = v
	}
	b.OwnersFile = filepath.Join(s.opts.DataDir, "owners.yaml")
	owners := fmt.Sprintf(ownersTemplate, b.PaymentsChannel, b.CheckoutChannel, b.PlatformChannel, b.SecChannel)
	if s.opts.Owners != "" {
		owners = s.opts.Owners
	}
	return os.WriteFile(b.OwnersFile, []byte(owners), 0o600)
}

// configureBreadth points the breadth providers and notifiers at the
// emulators; every secret is a reference into the stack's environment.
func (s *Stack) configureBreadth(c *config.Config) error {
	b := s.Breadth
	ca := filepath.Join(s.opts.DataDir, "smtp-ca.pem")
	if err := os.WriteFile(ca, b.SMTP.CertPEM(), 0o600); err != nil {
		return err
	}
	p := &c.Providers
	p.Anthropic.BaseURL, p.Anthropic.AdminKey = b.Anthropic.URL(), "env:STACK_ANTHROPIC_ADMIN_KEY"
	p.AWS.Endpoint, p.AWS.AccessKeyID, p.AWS.SecretAccessKey = b.AWS.URL(), "env:STACK_AWS_ACCESS_KEY_ID", "env:STACK_AWS_SECRET_ACCESS_KEY"
	p.Google.GeminiURL, p.Google.APIKeysURL, p.Google.AccessToken = b.Google.URL(), b.Google.URL(), "env:STACK_GOOGLE_TOKEN"
	p.Slack.BaseURL = b.SlackAPI.URL()
	p.Stripe.BaseURL, p.Stripe.ManagementKey = b.Stripe.URL(), "env:STACK_STRIPE_MGMT_KEY"
	p.HuggingFace.BaseURL = b.HF.URL()
	p.Groq.BaseURL = b.Groq.URL()
	p.Perplexity.BaseURL = b.Perplexity.URL()
	p.XAI.BaseURL = b.XAI.URL()
	p.Replicate.BaseURL = b.Replicate.URL()
	n := &c.Notifiers
	n.Email = map[string]config.Email{"default": {Host: b.SMTP.Host, Port: b.SMTP.Port, TLS: "starttls", Username: b.SMTP.Username,
		Password: "env:STACK_SMTP_PASSWORD", From: "Firebreak <firebreak@example.com>", To: []string{"security@example.com"}, CAFile: ca}}
	n.PagerDuty = map[string]config.PagerDuty{
		"default":  {RoutingKey: "env:STACK_PD_SECURITY", URL: b.PagerDuty.EnqueueURL()},
		"payments": {RoutingKey: "env:STACK_PD_PAYMENTS", URL: b.PagerDuty.EnqueueURL()},
	}
	n.Teams = map[string]config.Teams{"default": {WebhookURL: "env:STACK_TEAMS_WEBHOOK"}}
	n.Jira = map[string]config.JiraNotifier{"default": {BaseURL: b.Jira.URL(), Email: "firebreak@example.com", APIToken: "env:STACK_JIRA_TOKEN", Project: "SEC"}}
	n.GitHubIssue = map[string]config.GitHubIssue{"default": {APIURL: s.GitHub.URL(), Token: "env:STACK_GITHUB_ISSUE_TOKEN", Repo: "acme/security"}}
	n.SlackBot = map[string]config.SlackBot{"default": {BaseURL: b.SlackAPI.URL(), Token: "env:STACK_SLACK_BOT_TOKEN", DefaultChannel: b.SecChannel}}
	c.Owners.File = b.OwnersFile
	return nil
}

func (b *Breadth) close() {
	if b == nil {
		return
	}
	for _, c := range []interface{ Close() }{b.Anthropic, b.AWS, b.Google, b.SlackAPI, b.Stripe, b.HF, b.Groq, b.Perplexity,
		b.XAI, b.Replicate, b.PagerDuty, b.Teams, b.Jira} {
		c.Close()
	}
	if b.SMTP != nil {
		b.SMTP.Close()
	}
}

// Leak is a secret seen by a log or ticket source, for PublishLeak.
type Leak struct {
	Source   string // exposure source kind: logs, loki, splunk_hec, jira, ticket, …
	Provider string
	Type     string
	Raw      string // the leaked secret
	KeyID    string // the provider's id of the key, when the format carries one (AWS)
	Location exposure.Location
}

// PublishSecret publishes a sealed exposure of raw onto the bus, as a log or
// ticket ingester does, and returns the incident id it will key.
func (s *Stack) PublishSecret(ctx context.Context, source, provider, typ, raw string, loc exposure.Location) (string, error) {
	return s.PublishLeak(ctx, Leak{Source: source, Provider: provider, Type: typ, Raw: raw, Location: loc})
}

// PublishLeak publishes a sealed exposure: the secret sealed with the app's
// keyring under its fingerprint, only the fingerprint, hint and sealed form
// on the bus.
func (s *Stack) PublishLeak(ctx context.Context, l Leak) (string, error) {
	kr := s.App.Keyring
	v := secret.New(l.Raw)
	fp := kr.Fingerprint(v)
	sealed, err := kr.Seal(ctx, v, []byte(fp))
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	ev := &exposure.Event{
		ID: exposure.NewID(now), Schema: exposure.Schema,
		Source:      exposure.Source{Kind: l.Source, Ref: l.Location.Stream, DeliveryID: "stack-" + randomHex(8)},
		Secret:      exposure.Secret{Provider: l.Provider, Type: l.Type, Fingerprint: fp, Redacted: secret.Hint(v), Sealed: sealed, KeyID: l.KeyID},
		Location:    l.Location,
		Environment: exposure.Environment(l.Location.Labels, l.Location.Branch, l.Location.Path, ""),
		ObservedAt:  now, ReceivedAt: now, Correlation: "stack-" + randomHex(6),
	}
	if ev.Location.Display == "" {
		ev.Location.Display = firstNonEmpty(ev.Location.Stream, ev.Location.Ticket, ev.Location.Repo+": "+ev.Location.Path)
	}
	if _, err := s.App.Publisher.Publish(ctx, ev, ev.ID); err != nil {
		return "", err
	}
	return incident.IDFor(fp), nil
}

// AlertWebhook returns a secret_scanning_alert "created" webhook body for
// alert number of repo ("owner/name"), for PostGitHub.
func AlertWebhook(repo string, number int64, secretType string) []byte {
	b, _ := json.Marshal(map[string]any{
		"action": "created",
		"alert": map[string]any{"number": number, "created_at": time.Now().UTC().Format(time.RFC3339), "state": "open",
			"secret_type": secretType, "validity": "active",
			"html_url": fmt.Sprintf("https://github.com/%s/security/secret-scanning/%d", repo, number),
			"url":      fmt.Sprintf("https://api.github.com/repos/%s/secret-scanning/alerts/%d", repo, number)},
		"repository": map[string]any{"full_name": repo, "html_url": "https://github.com/" + repo},
		"sender":     map[string]any{"login": "github"},
	})
	return b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" && s != ": " {
			return s
		}
	}
	return ""
}
