package actions_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/jira"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// TestRedactionSkipsKeyOnlyInMetadata: a ticket exposure whose key is in
// none of the ticket's texts — its redact label is empty, its found_in label
// names a Jira label or a URL — is skipped by jira.redact and
// github.redact_comment with the reason and the place: no request reaches
// Jira or GitHub (no fetch, no edit, no notice comment), dry-run or not.
// (Before, an empty redact label was answered "not a Jira exposure", a
// success that said the wrong thing.)
func TestRedactionSkipsKeyOnlyInMetadata(t *testing.T) {
	ge, gc, je, jc := writebackTargets(t)
	cases := []struct {
		name   string
		action step.Action
		srv    *emulator.Server
		labels map[string]string
		ticket string
		where  string
	}{
		{"jira", actions.RedactJira{Jira: jc, BaseURL: je.URL()}, je.Server(),
			map[string]string{tickets.LabelSystem: "jira", tickets.LabelIssue: "PAY-7", tickets.LabelRedact: "", tickets.LabelFoundIn: "label:jira_labels"},
			"PAY-7", "PAY-7"},
		{"github", actions.RedactGitHub{GitHub: gc, BaseURL: ge.URL()}, ge.Server(),
			map[string]string{tickets.LabelSystem: "github", tickets.LabelRepo: "acme/web", tickets.LabelIssue: "3", tickets.LabelRedact: "", tickets.LabelFoundIn: "url"},
			"acme/web#3", "acme/web#3"},
	}
	for _, c := range cases {
		for _, dry := range []bool{false, true} {
			name := c.name
			if dry {
				name += " dry-run"
			}
			t.Run(name, func(t *testing.T) {
				before := len(c.srv.Requests())
				v := secret.New("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")
				in := &step.Input{
					Exposure:   &exposure.Event{Secret: exposure.Secret{Provider: "github"}, Location: exposure.Location{Ticket: c.ticket, Labels: c.labels}},
					Incident:   &incident.Incident{ID: "inc_1"},
					Credential: providers.Credential{Provider: "github", Secret: v, Hint: secret.Hint(v)},
					DryRun:     dry,
				}
				res, err := c.action.Run(context.Background(), in)
				if err != nil {
					t.Fatalf("failed: %v", err)
				}
				if !res.Skipped || res.DryRun || len(res.Calls) != 0 {
					t.Fatalf("result %+v, want skipped with no plan", res)
				}
				for _, want := range []string{c.where, c.labels[tickets.LabelFoundIn], "metadata", "by hand"} {
					if !strings.Contains(res.Detail, want) {
						t.Errorf("reason %q does not say %q", res.Detail, want)
					}
				}
				if res.Outputs["redacted"] != 0 || res.Outputs["found_in"] != c.labels[tickets.LabelFoundIn] {
					t.Errorf("outputs %v", res.Outputs)
				}
				if got := c.srv.Requests()[before:]; len(got) != 0 {
					t.Errorf("%d requests reached %s: %+v", len(got), c.name, got)
				}
			})
		}
	}
}

// TestWritebackWithNothingToDoIsSkipped: a write-back step with nothing to
// act on — github.resolve_alert for an exposure that is no alert or whose
// key the incident did not revoke, a redaction step for an exposure of
// another system — ends skipped with its reason, not succeeded, and sends
// no request. A skipped step runs again when an alert reopens the incident
// (responders/reopen.go), so an alert reopened and then revoked is still
// resolved on GitHub; a step recorded as succeeded would not be.
func TestWritebackWithNothingToDoIsSkipped(t *testing.T) {
	ge, gc, je, jc := writebackTargets(t)
	alert := &exposure.Alert{Repository: "acme/web", Number: 4, Action: "created"}
	cases := []struct {
		name   string
		action step.Action
		ev     *exposure.Event
		inc    *incident.Incident
		reason string
	}{
		{"resolve_alert, no alert", actions.ResolveAlert{GitHub: gc, BaseURL: ge.URL()},
			&exposure.Event{}, &incident.Incident{ID: "inc_1"}, "not a GitHub alert"},
		{"resolve_alert, key not revoked", actions.ResolveAlert{GitHub: gc, BaseURL: ge.URL()},
			&exposure.Event{Alert: alert}, &incident.Incident{ID: "inc_1"}, "not revoked"},
		{"redact_comment, not a GitHub issue", actions.RedactGitHub{GitHub: gc, BaseURL: ge.URL()},
			&exposure.Event{Alert: alert}, &incident.Incident{ID: "inc_1"}, "not a GitHub issue exposure"},
		{"jira.redact, not a Jira issue", actions.RedactJira{Jira: jc, BaseURL: je.URL()},
			&exposure.Event{Alert: alert}, &incident.Incident{ID: "inc_1"}, "not a Jira exposure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(ge.Server().Requests()) + len(je.Server().Requests())
			res, err := c.action.Run(context.Background(), &step.Input{Exposure: c.ev, Incident: c.inc})
			if err != nil {
				t.Fatalf("failed: %v", err)
			}
			if !res.Skipped || res.DryRun || !strings.Contains(res.Detail, c.reason) {
				t.Fatalf("result %+v, want skipped saying %q", res, c.reason)
			}
			if n := len(ge.Server().Requests()) + len(je.Server().Requests()) - before; n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
	// Revoked: the alert is resolved (not skipped).
	ge.AddAlertNumber("acme", "web", 4, "openai_api_key", "sk-proj-"+strings.Repeat("ab12", 12))
	now := incident.Incident{ID: "inc_1"}
	now.RevokedAt = &time.Time{}
	res, err := actions.ResolveAlert{GitHub: gc, BaseURL: ge.URL()}.Run(context.Background(), &step.Input{Exposure: &exposure.Event{Alert: alert}, Incident: &now})
	if err != nil || res.Skipped || res.Outputs["resolved"] != true {
		t.Fatalf("revoked key: %+v, %v", res, err)
	}
}

// writebackTargets starts a GitHub and a Jira emulator, each with a client
// whose credential the emulator accepts.
func writebackTargets(t *testing.T) (*githubemu.Emulator, *github.AlertSource, *jiraemu.Emulator, *jira.Client) {
	t.Helper()
	ge := githubemu.New()
	ge.Start()
	t.Cleanup(ge.Close)
	gc, err := github.NewAlertSource(github.AlertSourceConfig{BaseURL: ge.URL(), Token: secret.Static(secret.New(ge.AddToken("ghp_", "firebreak-bot")))})
	if err != nil {
		t.Fatal(err)
	}
	je := jiraemu.New()
	je.Start()
	t.Cleanup(je.Close)
	jc, err := jira.New(jira.Config{BaseURL: je.URL(), Email: "bot@example.com", APIToken: secret.Static(secret.New("jira-token"))})
	if err != nil {
		t.Fatal(err)
	}
	return ge, gc, je, jc
}
