package stack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestAWSKeyPairInTextIsOneIncident: an AWS access key id printed with its
// secret access key, in a log line (NDJSON) or in a ticket (the generic
// tickets route; in a ticket, also the id in a label and the secret in the
// body), is one credential: the route answers one finding, one
// exposure (the secret's, naming the id) is published, one incident
// deactivates the key as Firebreak's principal and audits it, and no
// incident is opened for the id on its own. (Before, the id made a second
// incident for the same IAM key: the two raced to deactivate it, and the one
// that lost told the owner the key "was found but is not live".)
func TestAWSKeyPairInTextIsOneIncident(t *testing.T) {
	e := start(t, stack.Options{})
	b := e.Breadth
	tok, err := e.IngestToken()
	must(t, err)
	admin := adminToken(t, e)
	b.AWS.AddUser("batch-svc", false)

	cases := []struct {
		name, source string
		post         func(t *testing.T, akid, sk string) (int, []byte, error)
	}{
		{"ndjson-log-line", exposure.SourceLogs, func(t *testing.T, akid, sk string) (int, []byte, error) {
			return e.Post(ctxT(t, 30*time.Second), "/v1/ingest/logs?app=batch", ndjson("aws session: AWS_ACCESS_KEY_ID="+akid+" AWS_SECRET_ACCESS_KEY="+sk, nil),
				"Authorization", "Bearer "+tok, "Content-Type", "application/x-ndjson")
		}},
		{"generic-ticket", exposure.SourceTicket, func(t *testing.T, akid, sk string) (int, []byte, error) {
			body, _ := json.Marshal(map[string]any{"system": "servicenow", "id": "INC0042", "title": "batch job fails",
				"body": "it fails with these credentials:\naws_access_key_id = " + akid + "\naws_secret_access_key = " + sk + "\n"})
			return e.PostTickets(ctxT(t, 30*time.Second), body)
		}},
		// A bridge that maps the key's id into a label of its own and pastes
		// the secret into the body: the ticket is one document, its one
		// lone secret and its one unpaired id are one credential.
		{"generic-ticket-id-in-label", exposure.SourceTicket, func(t *testing.T, akid, sk string) (int, []byte, error) {
			body, _ := json.Marshal(map[string]any{"system": "servicenow", "id": "INC0043", "title": "batch job fails",
				"labels": map[string]string{"u_aws_access_key_id": akid},
				"body":   "it fails with the key in the custom field and\naws_secret_access_key = " + sk + "\n"})
			return e.PostTickets(ctxT(t, 30*time.Second), body)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			akid, sk := b.AWS.AddKey("batch-svc")
			code, answer, err := c.post(t, akid, sk)
			if err != nil || code != http.StatusAccepted || !strings.Contains(string(answer), `"findings":1`) {
				t.Fatalf("ingest answered %d %s %v, want 202 with one finding", code, answer, err)
			}
			providertest.AssertNoSecret(t, sk, string(answer))
			// The stream holds one exposure of this key: the secret's,
			// naming its id.
			var types []string
			for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
				var ev exposure.Event
				must(t, json.Unmarshal(m.Data, &ev))
				if ev.Secret.KeyID == akid {
					types = append(types, ev.Source.Kind+" "+ev.Secret.Type)
				}
			}
			if want := c.source + " aws_secret_access_key"; len(types) != 1 || types[0] != want {
				t.Fatalf("exposures of the key: %v, want [%s]", types, want)
			}
			in, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(sk), stack.Terminal)
			must(t, err)
			if in.State != incident.Contained || in.KeyID != akid {
				t.Fatalf("incident %s: state %s (%s), key id %q", in.ID, in.State, in.Error, in.KeyID)
			}
			if st := b.AWS.KeyStatus(akid); st != "Inactive" {
				t.Fatalf("access key status %q", st)
			}
			var updates []string
			for _, call := range b.AWS.Calls() {
				if call.Action == "UpdateAccessKey" && call.Params.Get("AccessKeyId") == akid {
					updates = append(updates, call.Principal+" "+call.Params.Get("Status"))
				}
			}
			if len(updates) != 1 || updates[0] != "firebreak-responder Inactive" {
				t.Fatalf("UpdateAccessKey calls for the key: %v, want one by firebreak-responder", updates)
			}
			if rec := audited(t, e, in, "revoke", sk); rec.Uses != "provider.revoke" {
				t.Fatalf("revoke record %+v", rec)
			}
			// Once the responders are idle, the id has no incident of its own.
			waitIdle(t, e)
			if code, body := api(t, e, "GET", "/v1/incidents/"+e.IncidentFor(akid), admin, nil); code != http.StatusNotFound {
				t.Fatalf("GET the id's incident: %d %s, want 404", code, body)
			}
			if code, _ := api(t, e, "GET", "/v1/incidents/"+in.ID, admin, nil); code != http.StatusOK {
				t.Fatalf("GET the key's incident: %d, want 200", code)
			}
			providertest.AssertNoSecret(t, sk, e.logs.String())
		})
	}
}
