package stack_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestCanarySecretsNeverLeak sends canary secrets through the whole flow — a
// revoked OpenAI key, a revoked GitHub token, a key whose revocation fails —
// and then greps every log line, every stream message and header, every
// key-value entry, every HTTP response, every notification and every file
// under the data directory for them.
func TestCanarySecretsNeverLeak(t *testing.T) {
	e := start(t, stack.Options{AckWait: 2 * time.Second, MaxDeliver: 2})
	okKey, _ := e.LeakOpenAI("acme/payments-api", 1)
	failKey, _ := e.LeakOpenAI("acme/payments-api", 2)
	ghTok := e.GitHub.AddToken("ghp_", "dev-alice")
	e.GitHub.AddAlertNumber("acme", "infra", 3, "github_personal_access_token", ghTok)
	// One transient failure on the way, and (below) a permanent one whose
	// error body echoes the leaked key.
	e.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/me", Count: 1, Status: 503})
	canaries := map[string]string{"openai key": okKey, "failing openai key": failKey, "github token": ghTok}

	var responses []string
	postRecord := func(delivery string, body []byte) {
		code, b, err := e.PostGitHub(context.Background(), "secret_scanning_alert", delivery, body)
		if err != nil || code >= 300 {
			t.Fatalf("post %s: %d %v", delivery, code, err)
		}
		responses = append(responses, string(b))
	}
	postRecord("c-1", stack.AlertPayload("created", "acme/payments-api", 1, "openai_api_key"))
	postRecord("c-3", stack.AlertPayload("created", "acme/infra", 3, "github_personal_access_token"))
	ids := []string{e.IncidentFor(okKey), e.IncidentFor(ghTok)}
	for _, id := range ids {
		if in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, stack.Terminal); err != nil || in.State != incident.Contained {
			t.Fatalf("incident %s: %v %v", id, in, err)
		}
	}
	e.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Status: 403, Body: `{"error":{"message":"key ` + failKey + ` belongs to a locked project","type":"invalid_request_error"}}`})
	postRecord("c-2", stack.AlertPayload("created", "acme/payments-api", 2, "openai_api_key"))
	failID := e.IncidentFor(failKey)
	if in, err := e.WaitIncident(ctxT(t, 60*time.Second), failID, func(in *incident.Incident) bool { return in.State == incident.Failed && in.Lease == nil }); err != nil {
		t.Fatalf("failing incident: %v %v", in, err)
	}
	waitIdle(t, e)

	var texts []string
	texts = append(texts, e.logs.String())
	texts = append(texts, responses...)
	for _, stream := range []string{exposure.StreamExposures, exposure.StreamAudit, exposure.StreamDead} {
		for _, m := range bustest.StreamMessages(t, e.App.JS, stream) {
			texts = append(texts, m.Subject, string(m.Data))
			for k, vs := range m.Header {
				texts = append(texts, k+": "+strings.Join(vs, ","))
			}
		}
	}
	ctx := context.Background()
	for _, bucket := range []string{exposure.BucketIncidents, exposure.BucketDeliveries} {
		kv, err := e.App.JS.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, err := kv.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, k, string(v.Value()))
		}
	}
	tok, _ := os.ReadFile(filepath.Join(e.App.Cfg.DataDir, "admin-token"))
	for _, path := range []string{"/v1/incidents", "/v1/incidents/" + ids[0], "/v1/incidents/" + failID, "/metrics", "/readyz", "/healthz"} {
		r := getJSON(t, e.URL+path, strings.TrimSpace(string(tok)))
		if r.code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.code)
		}
		texts = append(texts, string(r.raw))
	}
	for _, m := range e.Slack.Messages() {
		texts = append(texts, m.AllText())
	}
	for _, d := range e.Webhook.Deliveries() {
		texts = append(texts, string(d.Body))
	}
	// Nothing at rest in plaintext either: JetStream's files, the keyring, the KV store.
	err := filepath.WalkDir(e.App.Cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		texts = append(texts, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) < 50 {
		t.Fatalf("only %d texts collected: the canary check would prove little", len(texts))
	}
	for name, c := range canaries {
		t.Run(name, func(t *testing.T) { providertest.AssertNoSecret(t, c, texts...) })
	}
}
