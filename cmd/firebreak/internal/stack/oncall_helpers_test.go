package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// approvalPlaybook holds the revocation of an OpenAI key for approval when
// the key is live.
const approvalPlaybook = `apiVersion: firebreak/v1
kind: Playbook
name: openai-approve
match: {providers: [openai]}
steps:
  - id: verify
    uses: provider.verify
  - id: approve
    uses: approval
    when: steps.verify.outputs.live
    with:
      approvers: [alice, U0ALICE]
      timeout: %s
      on_timeout: %s
      text: 'Revoke {{ .Exposure.Secret.Redacted }}?'
  - id: revoke
    uses: provider.revoke
  - id: notify
    uses: notify.slack
`

const slackSigning = "8f742231b10e8888abcd99yyyzzz85a5"

// startApproval starts a stack that runs only the approval playbook, with
// Slack callbacks verified under slackSigning and a fast sweeper.
func startApproval(t *testing.T, timeout, onTimeout string, opts stack.Options) *env {
	t.Helper()
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	must(t, os.MkdirAll(pbDir, 0o755))
	must(t, os.WriteFile(filepath.Join(pbDir, "approve.yaml"), []byte(fmt.Sprintf(approvalPlaybook, timeout, onTimeout)), 0o644))
	signing := filepath.Join(dir, "slack-signing")
	must(t, os.WriteFile(signing, []byte(slackSigning), 0o600))
	prev := opts.Configure
	opts.Configure = func(c *config.Config) {
		off := false
		c.Playbooks.Builtin = &off
		c.Playbooks.Dir = pbDir
		c.Approvals.SlackSigningSecret = secret.Ref("file:" + signing)
		c.Approvals.SweepInterval = config.Duration(50 * time.Millisecond)
		if prev != nil {
			prev(c)
		}
	}
	return start(t, opts)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// adminToken is the admin token serve generated in its data directory.
func adminToken(t *testing.T, e *env) string {
	t.Helper()
	b, err := os.ReadFile(e.App.AdminTokenFile)
	must(t, err)
	return strings.TrimSpace(string(b))
}

// newToken creates a control-API token through the API, as an admin would.
func newToken(t *testing.T, e *env, name string, scopes ...tokens.Scope) string {
	t.Helper()
	code, body := api(t, e, "POST", "/v1/tokens", adminToken(t, e), map[string]any{"name": name, "scopes": scopes})
	if code != http.StatusCreated {
		t.Fatalf("create token: %d %s", code, body)
	}
	var out struct{ Token string }
	must(t, json.Unmarshal(body, &out))
	return out.Token
}

// api calls the control API with a bearer token ("" for none).
func api(t *testing.T, e *env, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// leak posts a signed alert for a new live OpenAI key and returns the raw
// key, its id and the incident id.
func leakAlert(t *testing.T, e *env, repo string, n int64, delivery string) (raw, keyID, id string) {
	t.Helper()
	raw, keyID = e.LeakOpenAI(repo, n)
	code, resp := post(t, e, delivery, stack.AlertPayload("created", repo, n, "openai_api_key"))
	if code != http.StatusAccepted {
		t.Fatalf("ingest answered %d %v", code, resp)
	}
	return raw, keyID, e.IncidentFor(raw)
}

func waitState(t *testing.T, e *env, id string, states ...incident.State) *incident.Incident {
	t.Helper()
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, func(in *incident.Incident) bool {
		for _, s := range states {
			if in.State == s {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("waiting for %v: %v", states, err)
	}
	return in
}

// auditStored reads one chain's records from the audit stream, as stored.
func auditStored(t *testing.T, e *env, chain string) []audit.Stored {
	t.Helper()
	var out []audit.Stored
	err := audit.Read(context.Background(), e.App.JS, audit.ReadOptions{Chain: chain}, func(s audit.Stored) error {
		out = append(out, s)
		return nil
	})
	must(t, err)
	return out
}

// auditRecords reads one chain's records from the audit stream.
func auditRecords(t *testing.T, e *env, chain string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, s := range auditStored(t, e, chain) {
		out = append(out, s.Record)
	}
	return out
}

func findRecord(recs []audit.Record, kind string) *audit.Record {
	for i := range recs {
		if recs[i].Kind == kind {
			return &recs[i]
		}
	}
	return nil
}
