package faults

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/firebreak-sec/firebreak/providers/anthropic/anthropicemu"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
	"github.com/firebreak-sec/firebreak/providers/notify/pagerduty/pagerdutyemu"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook/webhookemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// world is everything outside Firebreak: the provider and notifier
// emulators, running in the harness process, and the secrets Firebreak's
// processes authenticate to them with (passed by environment, referenced
// from the configuration as env:NAME).
type world struct {
	OpenAI    *openaiemu.Emulator
	Anthropic *anthropicemu.Emulator
	GitHub    *githubemu.Emulator
	Jira      *jiraemu.Emulator
	Slack     *slackemu.Emulator
	Webhook   *webhookemu.Receiver
	PagerDuty *pagerdutyemu.Emulator

	projects   []string
	openAIKeys openaiemu.DistinctKeys // OpenAI redacted forms must not collide
	slackHook  slackemu.Hook
	pdService  string

	env map[string]string // FB_* → secret
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newWorld() *world {
	w := &world{
		OpenAI: openaiemu.New(), Anthropic: anthropicemu.New(), Jira: jiraemu.New(),
		// A GitHub App installation on GitHub Enterprise Cloud: 15,000 requests
		// an hour. The soak's ~1,000 alerts, each fetched, located and written
		// back, with fault retries, exhaust a user token's 5,000 and then wait
		// (correctly) for the reset an hour later.
		GitHub: githubemu.New(githubemu.WithCoreRateLimit(15000, time.Hour)),
		Slack:  slackemu.New(), PagerDuty: pagerdutyemu.New(),
	}
	hookSecret := randomHex(16)
	w.Webhook = webhookemu.New(webhookemu.Config{Secret: []byte(hookSecret)})
	for _, s := range []interface{ Start() string }{w.OpenAI, w.Anthropic, w.GitHub, w.Jira, w.Slack, w.Webhook, w.PagerDuty} {
		s.Start()
	}
	for i := 0; i < 4; i++ {
		w.projects = append(w.projects, w.OpenAI.AddProject(fmt.Sprintf("service-%d", i)))
	}
	w.slackHook = w.Slack.AddHook("#sec-incidents")
	w.pdService = "security"
	openaiAdmin, _ := w.OpenAI.AddAdminKey("firebreak")
	w.env = map[string]string{
		"FB_ADMIN_TOKEN":     randomHex(16),
		"FB_GITHUB_WEBHOOK":  randomHex(20),
		"FB_GITHUB_TOKEN":    w.GitHub.AddToken("ghp_", "firebreak-bot"),
		"FB_OPENAI_ADMIN":    openaiAdmin,
		"FB_ANTHROPIC_ADMIN": w.Anthropic.AddAdminKey(),
		"FB_HOOK_SECRET":     hookSecret,
		"FB_PAGERDUTY":       w.PagerDuty.AddService(w.pdService),
		"FB_SLACK_HOOK":      w.Slack.HookURL(w.slackHook),
		"FB_JIRA_TOKEN":      w.Jira.AddUser("firebreak-bot@example.com"),
		"FB_JIRA_WEBHOOK":    randomHex(16),
		"FB_TICKETS":         randomHex(16),
		"FB_INGEST":          randomHex(16),
	}
	return w
}

// environ is the processes' environment: the FB_* secrets.
func (w *world) environ() []string {
	var out []string
	for k, v := range w.env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (w *world) close() {
	for _, c := range []interface{ Close() }{w.OpenAI, w.Anthropic, w.GitHub, w.Jira, w.Slack, w.Webhook, w.PagerDuty} {
		c.Close()
	}
}

// openAIKey creates a live OpenAI project key whose redacted form
// ("sk-proj-...9f2c") no other key shares: OpenAI's Admin API identifies a
// key only by that form, and Firebreak refuses to guess between two.
func (w *world) openAIKey(i int) (raw, id string) {
	raw = w.openAIKeys.Next("sk-proj-")
	id = w.OpenAI.AddKeyValue(w.projects[i%len(w.projects)], raw, openaiemu.Owner{Type: "user", Name: fmt.Sprintf("dev %d", i%50)})
	return raw, id
}

// deletePath is the Admin API path that deletes the OpenAI key of it.
func (w *world) deletePath(it *item) string {
	return "/v1/organization/projects/" + w.projects[it.N%len(w.projects)] + "/api_keys/" + it.KeyID
}

// servers are the emulators that providers and notifiers answer from, by
// name, for fault injection and counts.
func (w *world) servers() map[string]*emulator.Server {
	return map[string]*emulator.Server{"openai": w.OpenAI.Server(), "anthropic": w.Anthropic.Server, "github": w.GitHub.Server(),
		"webhook": w.Webhook.Server, "pagerduty": w.PagerDuty.Server, "slack": w.Slack.Server, "jira": w.Jira.Server()}
}

// settings are the knobs of a Firebreak process's configuration.
type settings struct {
	DataDir, Keyring, Listen, NATS, Playbooks, SyslogListen string
	Builtin                                                 bool
	LogLevel                                                string
	AckWait, IngestTimeout, Grace                           time.Duration
	MaxDeliver, Concurrency, MaxConcurrency                 int
	W                                                       *world
}

var configTemplate = template.Must(template.New("config").Parse(`# written by the fault harness
data_dir: {{ .DataDir }}
log: {level: {{ .LogLevel }}, format: json}
http:
  listen: {{ .Listen }}
  admin_token: env:FB_ADMIN_TOKEN
  ingest_timeout: {{ .IngestTimeout }}
  public_url: http://{{ .Listen }}
nats:
  url: {{ .NATS }}
  ack_wait: {{ .AckWait }}
  max_deliver: {{ .MaxDeliver }}
keyring: {file: {{ .Keyring }}}
responders:
  concurrency: {{ .Concurrency }}
  grace: {{ .Grace }}
playbooks:
  builtin: {{ .Builtin }}
{{- if .Playbooks }}
  dir: {{ .Playbooks }}
{{- end }}
github:
  webhook_secret: env:FB_GITHUB_WEBHOOK
  token: env:FB_GITHUB_TOKEN
  api_url: {{ .W.GitHub.URL }}
  partner:
    enabled: true
    types: {acme_api_token: {provider: openai, type: openai_api_key}}
jira:
  base_url: {{ .W.Jira.URL }}
  email: firebreak-bot@example.com
  api_token: env:FB_JIRA_TOKEN
  webhook_secret: env:FB_JIRA_WEBHOOK
  projects: {PAY: {environment: prod, owner: payments-team}}
tickets: {token: env:FB_TICKETS}
providers:
  openai: {base_url: {{ .W.OpenAI.URL }}, admin_key: env:FB_OPENAI_ADMIN, max_concurrency: {{ .MaxConcurrency }}}
  anthropic: {base_url: {{ .W.Anthropic.URL }}, admin_key: env:FB_ANTHROPIC_ADMIN, max_concurrency: {{ .MaxConcurrency }}}
  github: {base_url: {{ .W.GitHub.URL }}, batch_window: 50ms}
notifiers:
  slack: {default: {webhook_url: env:FB_SLACK_HOOK}}
  webhook: {default: {url: "{{ .W.Webhook.URL }}/firebreak", secret: env:FB_HOOK_SECRET}}
  pagerduty: {default: {routing_key: env:FB_PAGERDUTY, url: "{{ .W.PagerDuty.EnqueueURL }}"}}
ingest:
  tokens: [env:FB_INGEST]
  dedup_window: 2s
{{- if .SyslogListen }}
  syslog: {listen: {{ .SyslogListen }}, labels: {env: prod}}
{{- end }}
`))

func writeConfig(path string, s settings) error {
	var b strings.Builder
	if err := configTemplate.Execute(&b, s); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// playbook is what the fault runs' Firebreak runs on OpenAI and Anthropic
// keys: verify, revoke, notify; a permanent failure pages (on_failure).
// Retries are short so that a run under faults finishes in minutes; each
// step's attempts and the consumer's max_deliver bound the retries.
const playbook = `apiVersion: firebreak/v1
kind: Playbook
name: faults-genai
description: The fault harness's playbook (verify, revoke, notify; page on failure).
match:
  providers: [openai, anthropic]
steps:
  - id: verify
    uses: provider.verify
    retry: {attempts: 4, backoff: exponential, initial: 200ms, max: 2s}
    timeout: 3s
  - id: revoke
    uses: provider.revoke
    if: steps.verify.outputs.live
    retry: {attempts: 6, backoff: exponential, initial: 200ms, max: 2s}
    timeout: 3s
  - id: notify
    uses: notify.webhook
    retry: {attempts: 4, backoff: exponential, initial: 200ms, max: 2s}
    timeout: 3s
    with: {event: incident.contained, severity: critical}
on_failure:
  - uses: notify.pagerduty
    retry: {attempts: 6, backoff: exponential, initial: 200ms, max: 2s}
    timeout: 3s
    with:
      severity: critical
      title: 'Firebreak could not revoke {{ .Exposure.Secret.Redacted }}'
      text: 'Incident {{ .Incident.ID }} failed: act by hand now.'
`

func writePlaybooks(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "faults.yaml"), []byte(playbook), 0o600)
}
