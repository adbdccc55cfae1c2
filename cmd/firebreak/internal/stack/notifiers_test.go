package stack_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets/adf"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// notifiersPlaybook revokes an OpenAI key, then tells Teams, files a GitHub
// issue and a Jira issue, each with templates: the issue's repository and
// the Jira project come from the owner (payments: its team and its Jira
// project), not from the notifiers' configured defaults (acme/security, SEC).
const notifiersPlaybook = `apiVersion: firebreak/v1
kind: Playbook
name: openai-file-everywhere
match: {providers: [openai]}
steps:
  - id: revoke
    uses: provider.revoke
  - id: teams
    uses: notify.teams
    with:
      severity: critical
      title: 'Leaked {{ .Exposure.Secret.Provider }} key in {{ .Exposure.Location.Repo }}'
      text: '{{ if .Steps.revoke.Outputs.revoked }}Revoked{{ else }}Could not revoke{{ end }} {{ .Exposure.Secret.Redacted }} for team {{ .Owner.Team }}, incident {{ .Incident.ID }}.'
  - id: github_issue
    uses: notify.github_issue
    with:
      repo: 'acme/{{ .Owner.Team }}-incidents'
      title: 'Leaked key {{ .Exposure.Secret.Redacted }} in {{ .Exposure.Location.Path }} ({{ .Incident.ID }})'
      text: 'Firebreak {{ if .Steps.revoke.Outputs.revoked }}revoked{{ else }}could not revoke{{ end }} the key; rotate what used it.'
  - id: jira
    uses: notify.jira
    with:
      project: '{{ .Owner.Jira }}'
      title: 'Leaked {{ .Exposure.Secret.Provider }} key for {{ .Owner.Team }}'
      text: 'Found in {{ .Exposure.Location.Display }} ({{ .Exposure.Environment }}).'
`

// TestNotifiersEndToEnd: a key found by "firebreak scan --publish" (POST
// /v1/ingest/scan, repository acme/payments-api, so the owners file names
// payments) runs a playbook whose notify.teams, notify.github_issue and
// notify.jira steps reach their emulators: one Teams card naming the
// incident with the rendered title and text, one GitHub issue in the
// repository the repo: template names, one Jira issue in the project the
// project: template names, labelled for the incident; the notifiers'
// default repository and project get nothing; no payload carries the key;
// each notify step's outcome is in the incident's audit chain, which
// verifies.
func TestNotifiersEndToEnd(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "notify.yaml"), []byte(notifiersPlaybook), 0o644))
	e := start(t, stack.Options{Configure: func(c *config.Config) {
		off := false
		c.Playbooks.Builtin = &off
		c.Playbooks.Dir = dir
	}})
	b := e.Breadth
	e.GitHub.AddRepo("acme", "payments-incidents")
	raw, _ := e.OpenAI.AddKey(e.OpenAI.AddProject("billing"), openaiemu.Owner{Type: "user", Name: "bo"})
	hint := secret.Hint(secret.New(raw))

	tok, err := e.IngestToken()
	must(t, err)
	body, _ := json.Marshal(logsink.ScanRequest{Labels: map[string]string{"repo": "acme/payments-api", "branch": "main"},
		Findings: []logsink.ScanFinding{{Secret: raw, File: "billing/.env", Line: 3, Column: 16}}})
	code, answer, err := e.Post(ctxT(t, 30*time.Second), "/v1/ingest/scan", body, "Authorization", "Bearer "+tok, "Content-Type", "application/json")
	providertest.AssertNoSecret(t, raw, string(answer))
	if err != nil || code != http.StatusAccepted || !strings.Contains(string(answer), `"findings":1`) {
		t.Fatalf("scan: %d %s %v", code, answer, err)
	}
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(raw), stack.Terminal)
	must(t, err)
	if in.State != incident.Contained || in.Owner == nil || in.Owner.Rule != "owners_file:payments" {
		t.Fatalf("incident %s: state %s (%s), owner %+v", in.ID, in.State, in.Error, in.Owner)
	}
	if e.OpenAI.Live(raw) {
		t.Fatal("the key is still live at the OpenAI emulator")
	}

	cards := b.Teams.Cards()
	ghIssues := e.GitHub.Issues("acme", "payments-incidents")
	jiraIssues := b.Jira.Issues("PAY")
	// No payload carries the key; checked before any is printed below.
	var payloads []string
	for _, c := range cards {
		payloads = append(payloads, string(c.Raw))
	}
	for _, is := range ghIssues {
		payloads = append(payloads, is.Title, is.Body, strings.Join(is.Labels, ","))
	}
	for _, is := range jiraIssues {
		payloads = append(payloads, is.Summary, string(is.Description), strings.Join(is.Labels, ","))
	}
	providertest.AssertNoSecret(t, raw, payloads...)
	if t.Failed() {
		t.FailNow()
	}

	// Teams: one card, on the configured webhook, naming the incident,
	// with the rendered title and text.
	if len(cards) != 1 {
		t.Fatalf("Teams cards: %d, want 1", len(cards))
	}
	c := cards[0]
	wantTexts := []string{"Leaked openai key in acme/payments-api", "Revoked " + hint + " for team payments, incident " + in.ID + "."}
	if c.Hook != "Security" || c.Facts["Incident"] != in.ID || len(c.Texts) < 2 || !slices.Equal(c.Texts[:2], wantTexts) {
		t.Fatalf("Teams card on %q, facts %v, texts %q; want on Security, incident %s, texts %q", c.Hook, c.Facts, c.Texts, in.ID, wantTexts)
	}

	// GitHub: one issue, in the repository the template named, filed with
	// the configured token, carrying the incident's marker.
	if len(ghIssues) != 1 {
		t.Fatalf("issues in acme/payments-incidents: %d, want 1", len(ghIssues))
	}
	gi := ghIssues[0]
	if want := "Leaked key " + hint + " in billing/.env (" + in.ID + ")"; gi.Title != want || gi.Author != "firebreak-issues" ||
		!slices.Contains(gi.Labels, "firebreak") || !strings.Contains(gi.Body, "<!-- firebreak:incident="+in.ID+" -->") ||
		!strings.HasPrefix(gi.Body, "Firebreak revoked the key; rotate what used it.") {
		t.Fatalf("GitHub issue by %s, title %q, labels %v, body:\n%s\nwant title %q", gi.Author, gi.Title, gi.Labels, gi.Body, want)
	}
	if n := len(e.GitHub.Issues("acme", "security")); n != 0 {
		t.Fatalf("%d issue(s) in the notifier's default repository acme/security: the repo: template was not used", n)
	}

	// Jira: one issue, in the owner's project, labelled for the incident.
	if len(jiraIssues) != 1 {
		t.Fatalf("Jira issues in PAY: %d, want 1", len(jiraIssues))
	}
	ji := jiraIssues[0]
	desc, err := adf.Text(ji.Description)
	must(t, err)
	if ji.Summary != "Leaked openai key for payments" || !slices.Contains(ji.Labels, "firebreak-"+in.ID) ||
		!strings.Contains(desc, "Found in acme/payments-api: billing/.env:3 (prod).") {
		t.Fatalf("Jira issue %s: summary %q, labels %v, description:\n%s", ji.Key, ji.Summary, ji.Labels, desc)
	}
	if n := len(b.Jira.Issues("SEC")); n != 0 {
		t.Fatalf("%d issue(s) in the notifier's default project SEC: the project: template was not used", n)
	}

	// The audit chain records each notify step's outcome and verifies.
	for _, st := range []struct{ id, uses string }{{"teams", "notify.teams"}, {"github_issue", "notify.github_issue"}, {"jira", "notify.jira"}} {
		rec := audited(t, e, in, st.id, raw)
		if rec.Uses != st.uses || rec.Outcome != string(incident.StepSucceeded) || rec.Detail != "sent through "+strings.TrimPrefix(st.uses, "notify.")+" notifier default" {
			t.Fatalf("audit record of step %s: %+v", st.id, rec)
		}
	}
	providertest.AssertNoSecret(t, raw, e.logs.String())
}
