package responders_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// TestPlanShowsActionSkip: a dry-run plan of a step whose action has
// nothing to do for the exposure (jira.redact for a key found only in the
// ticket's metadata) says the step is skipped, with the action's reason, and
// lists no call — not that it would run.
func TestPlanShowsActionSkip(t *testing.T) {
	redact := actions.RedactJira{BaseURL: "https://acme.atlassian.net"}
	const yaml = `apiVersion: firebreak/v1
kind: Playbook
name: redact
match:
  sources: [jira]
steps:
  - id: redact
    uses: jira.redact
`
	pbs, errs := playbooks.Parse("redact.yaml", []byte(yaml), playbooks.NewCatalog(nil, nil, redact.Spec()))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ev := &exposure.Event{ID: "exp_1", Source: exposure.Source{Kind: exposure.SourceJira},
		Secret: exposure.Secret{Provider: "openai", Type: "openai_api_key", Fingerprint: "fp1", Redacted: "sk-proj-…Qx7a"},
		Location: exposure.Location{Ticket: "PAY-7", Labels: map[string]string{tickets.LabelSystem: "jira",
			tickets.LabelRedact: "", tickets.LabelFoundIn: "label:jira_labels"}}}
	plan := responders.NewPlanner([]step.Action{redact}).Plan(context.Background(), ev, 1, nil, &playbooks.Set{Playbooks: pbs})
	if len(plan.Playbooks) != 1 || len(plan.Playbooks[0].Steps) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	sp := plan.Playbooks[0].Steps[0]
	if sp.Will != responders.WillSkip || len(sp.Calls) != 0 || !strings.Contains(sp.Why, "only in its metadata (label:jira_labels)") {
		t.Fatalf("planned step %+v; want skip with the action's reason", sp)
	}
}
