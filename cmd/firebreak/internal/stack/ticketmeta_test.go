package stack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// acceptedOne checks a ticket route's answer: 202 with one finding and one
// exposure id, which it returns.
func acceptedOne(t *testing.T, code int, body []byte, err error) string {
	t.Helper()
	var out struct {
		Findings    int      `json:"findings"`
		ExposureIDs []string `json:"exposure_ids"`
	}
	if err != nil || code != http.StatusAccepted || json.Unmarshal(body, &out) != nil || out.Findings != 1 || len(out.ExposureIDs) != 1 {
		t.Fatalf("ticket route answered %d %s %v; want 202 with one finding", code, body, err)
	}
	return out.ExposureIDs[0]
}

// TestTicketKeyOnlyInMetadataIsRevoked: a key a ticket holds in none of its
// texts, only in its metadata, is acted on like any other. A ServiceNow
// bridge that copies a custom field into a label (POST /v1/ingest/tickets),
// and a Jira issue with a token pasted as one of its labels (the Jira
// webhook): each answer is 202 with one exposure id; that exposure's
// incident revokes the key at the OpenAI emulator, the audit chain records
// the revocation and — for Jira — the redaction step skipped with its
// reason (there is no text to edit: nothing is fetched, edited or commented
// at Jira); the exposure says where the key was without carrying it; and
// the key appears in no log line, audit record, stream message, KV entry,
// HTTP answer or Slack message.
func TestTicketKeyOnlyInMetadataIsRevoked(t *testing.T) {
	e := start(t, stack.Options{})
	ctx := context.Background()
	var responses []string

	// Generic route: the key only in a label a bridge filled from a custom field.
	genericKey := leakKey(e)
	g, _ := json.Marshal(map[string]any{"system": "servicenow", "id": "INC0077", "url": "https://acme.service-now.com/incident.do?sys_id=77",
		"title": "deploy broken", "body": "the deploy fails since 9:00, see the custom fields",
		"labels":   map[string]string{"env": "prod", "team": "payments", "u_api_key": genericKey},
		"comments": []any{map[string]any{"id": "c1", "author": "bob", "body": "any news?"}}})
	code, b, err := e.PostTickets(ctx, g)
	responses = append(responses, string(b))
	genericExp := acceptedOne(t, code, b, err)

	// Jira route: the token pasted as a label of an issue whose texts are clean.
	jiraKey := leakKey(e)
	issue := e.Jira.AddIssue("PAY", "Rotate the deploy token", json.RawMessage(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Labels say which one."}]}]}`))
	e.Jira.SetLabels(issue, "backend", jiraKey)
	code, b, err = e.PostJira(ctx, "jira-meta-1", e.Jira.IssueEvent("jira:issue_updated", issue, true))
	responses = append(responses, string(b))
	jiraExp := acceptedOne(t, code, b, err)

	cases := []struct {
		name, raw, exp, source, ticket, foundIn, display string
	}{
		{"generic", genericKey, genericExp, exposure.SourceTicket, "INC0077", "label:u_api_key", "servicenow INC0077 label u_api_key"},
		{"jira", jiraKey, jiraExp, exposure.SourceJira, issue, "label:" + tickets.LabelJiraLabels, "jira " + issue + " label " + tickets.LabelJiraLabels},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(c.raw), stack.Terminal)
			must(t, err)
			if in.State != incident.Contained {
				t.Fatalf("incident %s: %s (%s)", in.ID, in.State, in.Error)
			}
			if e.OpenAI.Live(c.raw) {
				t.Fatal("the key in the ticket's metadata is still live")
			}
			x := in.Exposures[0]
			l := x.Location
			if len(in.Exposures) != 1 || x.ID != c.exp || x.Source != c.source || l.Ticket != c.ticket ||
				l.Labels[tickets.LabelRedact] != "" || l.Labels[tickets.LabelFoundIn] != c.foundIn || l.Display != c.display {
				t.Fatalf("exposures %+v; want %s from %s naming %s, found_in %q", in.Exposures, c.exp, c.source, c.ticket, c.foundIn)
			}
			if rec := audited(t, e, in, "revoke", c.raw); rec.Uses != "provider.revoke" {
				t.Fatalf("revoke record %+v", rec)
			}
		})
	}

	// The Jira redaction step: skipped, with its reason, in the incident and
	// its audit chain; no request edited the issue or commented on it.
	waitIdle(t, e)
	in, err := e.WaitIncident(ctxT(t, 10*time.Second), e.IncidentFor(jiraKey), stack.Terminal)
	must(t, err)
	st := step(in, "redact")
	if st == nil || st.Uses != "jira.redact" || st.State != incident.StepSkipped ||
		!strings.Contains(st.Detail, "only in its metadata (label:"+tickets.LabelJiraLabels+")") {
		t.Fatalf("redact step %+v; want skipped naming the label", st)
	}
	var skipped *audit.Record
	recs := auditRecords(t, e, in.ID)
	for i, r := range recs {
		if r.Step == "redact" {
			switch r.Kind {
			case audit.KindStepSkipped:
				skipped = &recs[i]
			case audit.KindStepFailed, audit.KindStepSucceeded:
				t.Errorf("redact step recorded %s: %+v", r.Kind, r)
			}
		}
	}
	if skipped == nil || skipped.Uses != "jira.redact" || skipped.Detail != st.Detail || skipped.Outcome != string(incident.StepSkipped) {
		t.Fatalf("step.skipped record of the redact step: %+v", skipped)
	}
	js := e.Jira.Server()
	for _, call := range []string{"PUT /rest/api/3/issue/", "POST /rest/api/3/issue/" + issue + "/comment", "GET /rest/api/3/issue/" + issue} {
		if n := js.Count(call); n != 0 {
			t.Errorf("%s at Jira: %d, want none", call, n)
		}
	}
	if is, _ := e.Jira.Issue(issue); len(is.Comments) != 0 {
		t.Errorf("%d comments on the issue, want none", len(is.Comments))
	}

	texts := ticketCanaryTexts(t, e, responses...)
	if len(texts) < 30 {
		t.Fatalf("only %d texts collected", len(texts))
	}
	for _, c := range cases {
		t.Run(c.name+" canary", func(t *testing.T) { providertest.AssertNoSecret(t, c.raw, texts...) })
	}
}
