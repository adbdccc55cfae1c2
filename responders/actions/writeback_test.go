package actions_test

import (
	"context"
	"strings"
	"testing"

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
	je := jiraemu.New()
	je.Start()
	t.Cleanup(je.Close)
	jc, err := jira.New(jira.Config{BaseURL: je.URL(), Email: "bot@example.com", APIToken: secret.Static(secret.New("jira-token"))})
	if err != nil {
		t.Fatal(err)
	}
	ge := githubemu.New()
	ge.Start()
	t.Cleanup(ge.Close)
	gc, err := github.NewAlertSource(github.AlertSourceConfig{BaseURL: ge.URL(), Token: secret.Static(secret.New("gh-token"))})
	if err != nil {
		t.Fatal(err)
	}
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
