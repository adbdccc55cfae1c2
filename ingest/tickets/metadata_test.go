package tickets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// AWS credentials of the shape the detector reports; never issued.
const (
	awsID      = "AKIAQ3EGRT5YKZ4MNW7X"
	awsSecret  = "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"
	awsID2     = "AKIAZ7PLM4QWX2RT6KVB"
	awsSecret2 = "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"
)

// scanTicket runs t through a scanner and returns its exposures (by secret
// hint) and their JSON, checking that no JSON holds a run of any of raws.
func scanTicket(t *testing.T, tk tickets.Ticket, raws ...string) (map[string]*exposure.Event, []string) {
	t.Helper()
	src := exposure.Source{Kind: exposure.SourceTicket, Ref: tk.System + ":" + tk.Ref, URL: tk.URL, DeliveryID: "d1"}
	items, err := newScanner(t).Exposures(context.Background(), tk, src)
	if err != nil {
		t.Fatal(err)
	}
	byHint := map[string]*exposure.Event{}
	var docs []string
	for _, it := range items {
		b, err := json.Marshal(it.Event)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
		byHint[it.Event.Secret.Redacted] = it.Event
	}
	for _, raw := range raws {
		providertest.AssertNoSecretRun(t, raw, scrub.MinRun, docs...)
	}
	return byHint, docs
}

func hint(raw string) string { return secret.Hint(secret.New(raw)) }

func baseTicket() tickets.Ticket {
	return tickets.Ticket{System: "servicenow", Ref: "INC0012345", URL: "https://acme.service-now.com/incident.do?sys_id=42",
		Labels: map[string]string{"env": "prod", "team": "payments"},
		Fields: []tickets.Field{{Name: "title", Text: "API down"}, {Name: "body", Text: "it fails since 9:00"},
			{Name: "comment", CommentID: "c1", Text: "same here", URL: "https://acme.service-now.com/comment?id=c1"}}}
}

// TestKeyOnlyInMetadataIsAnExposure: a key that is in none of the ticket's
// texts but in its metadata — a label's value, a label's key, a comment's
// URL, the ticket's URL — is one exposure: its secret sealed, its location
// the ticket, an empty redact label (no text holds it), a found_in label
// and a display that say where it is without carrying it, and the metadata
// it travels with redacted.
func TestKeyOnlyInMetadataIsAnExposure(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(tk *tickets.Ticket)
		foundIn string
		display string
	}{
		{"label value", func(tk *tickets.Ticket) { tk.Labels["u_deploy_token"] = "token " + key }, "label:u_deploy_token", "servicenow INC0012345 label u_deploy_token"},
		{"label key", func(tk *tickets.Ticket) { tk.Labels[key] = "pasted as a name" }, "label:" + secret.Redacted + " name", "servicenow INC0012345 label " + secret.Redacted + " name"},
		{"comment url", func(tk *tickets.Ticket) { tk.Fields[2].URL = "https://hooks.example.com/notify?token=" + key }, "comment:c1 url", "servicenow INC0012345 comment c1 url"},
		{"ticket url", func(tk *tickets.Ticket) { tk.URL = "https://acme.service-now.com/incident.do?sys_id=42&t=" + key }, "url", "servicenow INC0012345 url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := baseTicket()
			c.edit(&tk)
			got, docs := scanTicket(t, tk, key)
			e := got[hint(key)]
			if len(got) != 1 || e == nil {
				t.Fatalf("%d exposures, want 1 for the key: %v", len(got), docs)
			}
			l := e.Location
			if e.Secret.Type != "github_personal_access_token" || e.Secret.Sealed == "" || e.Secret.Fingerprint == "" {
				t.Errorf("secret %+v", e.Secret)
			}
			if l.Ticket != "INC0012345" || !strings.HasPrefix(l.URL, "https://acme.service-now.com/incident.do?sys_id=42") || l.Line != 0 {
				t.Errorf("location does not name the ticket: %+v", l)
			}
			if r, ok := l.Labels[tickets.LabelRedact]; !ok || r != "" {
				t.Errorf("redact label %q (set: %v), want empty: no text holds the key", r, ok)
			}
			if l.Labels[tickets.LabelFoundIn] != c.foundIn || l.Display != c.display {
				t.Errorf("found_in %q, display %q; want %q, %q", l.Labels[tickets.LabelFoundIn], l.Display, c.foundIn, c.display)
			}
			if l.Labels["env"] != "prod" || e.Environment != exposure.EnvProd || l.Labels[tickets.LabelSystem] != "servicenow" {
				t.Errorf("labels lost what is not secret: %v", l.Labels)
			}
		})
	}
}

// TestKeyInTextAndMetadataIsOneExposure: a key in the body and, copied by a
// bridge, in a label is one exposure, whose redact label names only the
// text that holds it and whose found_in names both places.
func TestKeyInTextAndMetadataIsOneExposure(t *testing.T) {
	tk := baseTicket()
	tk.Fields[1].Text = "the deploy key is " + key
	tk.Labels["short_description"] = "the deploy key is " + key
	tk.Labels["copy"] = key
	got, docs := scanTicket(t, tk, key)
	e := got[hint(key)]
	if len(got) != 1 || e == nil {
		t.Fatalf("%d exposures, want 1: %v", len(got), docs)
	}
	l := e.Location
	if l.Labels[tickets.LabelRedact] != "body" {
		t.Errorf("redact label %q, want body (the label is no text to redact)", l.Labels[tickets.LabelRedact])
	}
	if l.Labels[tickets.LabelFoundIn] != "body;label:copy;label:short_description" || l.Display != "servicenow INC0012345 body" || l.Line != 1 {
		t.Errorf("found_in %q, display %q, line %d", l.Labels[tickets.LabelFoundIn], l.Display, l.Line)
	}
}

// TestAWSKeyIDInLabelSecretInDescription: an AWS access key id a bridge put
// in a label and its secret access key in the description are one
// credential: one exposure, the secret's, naming the id — whether the
// description holds the secret alone (after aws_secret_access_key) or with
// the id next to it. With two lone secrets the pairing would be a guess: the
// id and each secret are exposures of their own.
func TestAWSKeyIDInLabelSecretInDescription(t *testing.T) {
	for name, desc := range map[string]string{
		"secret alone":  "the batch job uses\naws_secret_access_key = " + awsSecret + "\n",
		"secret and id": "aws_access_key_id = " + awsID + "\naws_secret_access_key = " + awsSecret + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			tk := tickets.Ticket{System: "servicenow", Ref: "INC0042", Labels: map[string]string{"u_aws_key_id": awsID},
				Fields: []tickets.Field{{Name: "title", Text: "batch job fails"}, {Name: "description", Text: desc}}}
			got, docs := scanTicket(t, tk, awsSecret)
			e := got[hint(awsSecret)]
			if len(got) != 1 || e == nil {
				t.Fatalf("%d exposures, want 1 (the secret's): %v", len(got), docs)
			}
			if e.Secret.Type != "aws_secret_access_key" || e.Secret.KeyID != awsID {
				t.Errorf("secret %s, key id %q; want aws_secret_access_key naming %s", e.Secret.Type, e.Secret.KeyID, awsID)
			}
			if e.Location.Labels[tickets.LabelRedact] != "description" {
				t.Errorf("redact label %q", e.Location.Labels[tickets.LabelRedact])
			}
		})
	}
	t.Run("two lone secrets", func(t *testing.T) {
		tk := tickets.Ticket{System: "servicenow", Ref: "INC0043", Labels: map[string]string{"u_aws_key_id": awsID},
			Fields: []tickets.Field{{Name: "title", Text: "aws_secret_access_key: " + awsSecret2},
				{Name: "description", Text: "aws_secret_access_key = " + awsSecret}}}
		got, docs := scanTicket(t, tk, awsSecret, awsSecret2)
		if len(got) != 3 || got[hint(awsID)] == nil || got[hint(awsSecret)].Secret.KeyID != "" || got[hint(awsSecret2)].Secret.KeyID != "" {
			t.Fatalf("want the id and two unpaired secrets: %v", docs)
		}
		if l := got[hint(awsID)].Location.Labels; l[tickets.LabelFoundIn] != "label:u_aws_key_id" || l[tickets.LabelRedact] != "" {
			t.Errorf("the id's exposure: %v", l)
		}
	})
	t.Run("id paired in metadata", func(t *testing.T) {
		// A bridge mapping both custom fields into labels: the detector
		// pairs them in the metadata, as in a text.
		tk := tickets.Ticket{System: "servicenow", Ref: "INC0044",
			Labels: map[string]string{"aws_access_key_id": awsID2, "aws_secret_access_key": awsSecret2},
			Fields: []tickets.Field{{Name: "title", Text: "creds attached"}}}
		got, docs := scanTicket(t, tk, awsSecret2)
		e := got[hint(awsSecret2)]
		if len(got) != 1 || e == nil || e.Secret.KeyID != awsID2 || e.Location.Labels[tickets.LabelFoundIn] != "label:aws_secret_access_key" {
			t.Fatalf("want one exposure, the secret's naming its id: %v", docs)
		}
	})
}

// TestCallerLabelsCannotNameTexts: a generic ticket's own "redact" or
// "found_in" label does not survive into an exposure of a key found only in
// the metadata: the redaction steps would edit texts that do not hold it.
func TestCallerLabelsCannotNameTexts(t *testing.T) {
	tk := baseTicket()
	tk.Labels[tickets.LabelRedact] = "body;title"
	tk.Labels[tickets.LabelFoundIn] = "body"
	tk.Labels["u_token"] = key
	got, docs := scanTicket(t, tk, key)
	e := got[hint(key)]
	if e == nil || e.Location.Labels[tickets.LabelRedact] != "" || e.Location.Labels[tickets.LabelFoundIn] != "label:u_token" {
		t.Fatalf("exposure %v", docs)
	}
}

// TestJiraKeyOnlyInLabels: a token pasted as a Jira label (fields.labels)
// of an issue whose texts hold nothing is an exposure of its own, named by
// the jira_labels label; the other labels stay readable.
func TestJiraKeyOnlyInLabels(t *testing.T) {
	pub := &memPub{}
	log, logs := providertest.NewLogger()
	h := tickets.NewJira(tickets.JiraConfig{}, newScanner(t), pub, log, nil)
	body, _ := json.Marshal(map[string]any{
		"webhookEvent": "jira:issue_updated",
		"issue": map[string]any{"key": "PAY-7", "self": "https://acme.atlassian.net/rest/api/2/issue/10007",
			"fields": map[string]any{"summary": "rotate the deploy token", "description": "see labels",
				"labels": []string{"backend", key, "urgent"}, "project": map[string]string{"key": "PAY"}}},
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/ingest/jira", bytes.NewReader(body)))
	if w.Code != http.StatusAccepted || len(pub.events) != 1 || !strings.Contains(w.Body.String(), `"findings":1`) {
		t.Fatalf("%d %s; %d exposures", w.Code, w.Body, len(pub.events))
	}
	assertClean(t, append([]string{w.Body.String(), logs.String()}, pub.json...)...)
	l := pub.events[0].Location
	if l.Ticket != "PAY-7" || l.URL != "https://acme.atlassian.net/browse/PAY-7" || l.Labels[tickets.LabelRedact] != "" ||
		l.Labels[tickets.LabelFoundIn] != "label:jira_labels" || l.Display != "jira PAY-7 label jira_labels" ||
		l.Labels[tickets.LabelJiraLabels] != "backend "+secret.Redacted+" urgent" {
		t.Fatalf("location %+v", l)
	}
}
