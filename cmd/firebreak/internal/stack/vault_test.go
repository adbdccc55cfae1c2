package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(runCrashChild())
	}
	testbin.Main(m, vaulttest.StopShared)
}

// rotatePlaybook is a playbook that searches the blast radius, verifies,
// rotates the key into Vault and pages when the key is reused across
// environments.
func rotatePlaybook(t *testing.T, prefix string, withFind bool) string {
	t.Helper()
	dir := t.TempDir()
	find := ""
	if withFind {
		find = "  - id: find\n    uses: vault.find\n"
	}
	pb := fmt.Sprintf(`apiVersion: firebreak/v1
kind: Playbook
name: openai-rotate
match:
  providers: [openai]
steps:
%s  - id: verify
    uses: provider.verify
  - id: rotate
    uses: vault.rotate
    if: steps.verify.outputs.live
    with: {mount: secret, path: '%s/apps/prod/payments/openai', field: api_key}
    retry: {attempts: 2, backoff: constant, initial: 100ms, max: 100ms}
  - id: page
    uses: notify.webhook
    if: exposure.blast.reused_across_envs
    with: {event: key.reused, severity: critical, text: 'reused across {{ .Exposure.Blast.Environments }}'}
`, find, prefix)
	if err := os.WriteFile(filepath.Join(dir, "openai-rotate.yaml"), []byte(pb), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tokenFile(t *testing.T, v *vaulttest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vault-token")
	if err := os.WriteFile(p, []byte(v.RootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func vaultConfig(v *vaulttest.Server, token, prefix string) config.Vault {
	return config.Vault{Address: v.Addr, Dev: true,
		Auth:        config.VaultAuth{Method: "token", Token: secret.Ref("file:" + token)},
		Rotation:    config.VaultRotate{IntentPrefix: prefix + "/firebreak/rotations"},
		BlastRadius: config.VaultBlast{Scopes: []config.VaultScope{{Mount: "secret", Prefix: prefix}}}}
}

func postAlert(t *testing.T, st *stack.Stack, raw string) {
	t.Helper()
	st.GitHub.AddAlertNumber("acme", "payments-api", 17, "openai_api_key", raw)
	body, err := os.ReadFile("../../../../testdata/github/alert-created-openai.json")
	if err != nil {
		t.Fatal(err)
	}
	code, resp, err := st.PostGitHub(context.Background(), "secret_scanning_alert", fmt.Sprintf("vault-%d", time.Now().UnixNano()), body)
	if err != nil || code != 202 && code != 200 {
		t.Fatalf("POST alert: %d %s %v", code, resp, err)
	}
}

// TestVaultRotationEndToEnd: a GitHub alert for an OpenAI key that lives in
// Vault under prod and dev paths. Firebreak finds both copies (severity
// critical, the reuse page fires), creates a service-account key, writes it to
// Vault with check-and-set and custom metadata, verifies it, revokes the old
// key, and the incident is contained. Firebreak's OpenAI admin key comes from
// Vault (a vault: reference), read when the steps need it.
func TestVaultRotationEndToEnd(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	prefix := vaulttest.UniquePrefix(t.Name())
	tok := tokenFile(t, v)
	st, err := stack.Start(context.Background(), stack.Options{Configure: func(c *config.Config) {
		f := false
		c.Playbooks.Builtin = &f
		c.Playbooks.Dir = rotatePlaybook(t, prefix, true)
		c.Vault = vaultConfig(v, tok, prefix)
		// Firebreak's own OpenAI admin key is a vault: reference, read at step time.
		c.Providers.OpenAI.AdminKey = secret.Ref("vault:secret/data/" + prefix + "/firebreak/openai#admin_key")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, _ := st.OpenAI.AddAdminKey("held-in-vault")
	v.Write(t, "secret/data/"+prefix+"/firebreak/openai", map[string]any{"data": map[string]any{"admin_key": admin}})
	project := st.OpenAI.AddProject("payments")
	raw, _ := st.OpenAI.AddKey(project, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "payments-api"})
	v.Write(t, "secret/data/"+prefix+"/apps/prod/payments/openai", map[string]any{"data": map[string]any{"api_key": raw, "org": "org-1"}})
	v.Write(t, "secret/metadata/"+prefix+"/apps/prod/payments/openai", map[string]any{"custom_metadata": map[string]any{"owner": "team-payments"}})
	v.Write(t, "secret/data/"+prefix+"/dev/payments", map[string]any{"data": map[string]any{"OPENAI_API_KEY": raw}})

	postAlert(t, st, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in, err := st.WaitIncident(ctx, st.IncidentFor(raw), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Contained || in.Severity != "critical" {
		t.Fatalf("incident %s severity %s (error %q), want contained and critical", in.State, in.Severity, in.Error)
	}
	if in.Blast == nil || len(in.Blast.Hits) != 2 || !in.Blast.ReusedAcrossEnvs {
		t.Fatalf("blast = %+v", in.Blast)
	}
	rot := in.Step("openai-rotate/rotate")
	if rot == nil || rot.State != incident.StepSucceeded || rot.Outputs["action"] != "rotated" {
		t.Fatalf("rotate step = %+v", rot)
	}
	if page := in.Step("openai-rotate/page"); page == nil || page.State != incident.StepSucceeded {
		t.Fatalf("the reuse page did not run: %+v", page)
	}
	if st.OpenAI.Live(raw) || len(st.OpenAI.Creations()) != 1 {
		t.Fatalf("old key live %v, %d keys created", st.OpenAI.Live(raw), len(st.OpenAI.Creations()))
	}
	c := st.OpenAI.Creations()[0]
	newKey := st.OpenAI.KeyOf(c.ProjectID, c.ServiceAccountID)
	sec, err := st.App.Vault.KVRead(ctx, "secret", prefix+"/apps/prod/payments/openai", 0)
	if err != nil || sec.Data["api_key"] != newKey || sec.Data["org"] != "org-1" || sec.CustomMetadata["owner"] != "team-payments" ||
		sec.CustomMetadata["incident"] != in.ID {
		t.Fatalf("Vault after rotation: version %d, metadata %v, err %v", sec.Version, sec.CustomMetadata, err)
	}
	b, _ := json.Marshal(in)
	providertest.AssertNoSecret(t, admin, string(b))
	providertest.AssertNoSecret(t, raw, string(b))
	providertest.AssertNoSecret(t, newKey, string(b))
}

// TestVaultSealedFailsTheIncidentCleanly: Vault is sealed; the rotation is
// retried in-process and by redelivery, then the incident fails with a clear
// error, and nothing was created or revoked at the provider.
func TestVaultSealedFailsTheIncidentCleanly(t *testing.T) {
	t.Parallel()
	v := vaulttest.Start(t)
	prefix := vaulttest.UniquePrefix(t.Name())
	tok := tokenFile(t, v)
	st, err := stack.Start(context.Background(), stack.Options{MaxDeliver: 2, Configure: func(c *config.Config) {
		f := false
		c.Playbooks.Builtin = &f
		c.Playbooks.Dir = rotatePlaybook(t, prefix, false)
		c.Vault = vaultConfig(v, tok, prefix)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	project := st.OpenAI.AddProject("payments")
	raw, _ := st.OpenAI.AddKey(project, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "payments-api"})
	v.Write(t, "secret/data/"+prefix+"/apps/prod/payments/openai", map[string]any{"data": map[string]any{"api_key": raw}})
	v.Seal(t)

	postAlert(t, st, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in, err := st.WaitIncident(ctx, st.IncidentFor(raw), stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Failed || !strings.Contains(in.Error, "Vault is sealed") || !strings.Contains(in.Error, "attempts exhausted") {
		t.Fatalf("incident %s, error %q; want failed with 'Vault is sealed' after retries", in.State, in.Error)
	}
	if rot := in.Step("openai-rotate/rotate"); rot == nil || rot.Attempts < 2 {
		t.Fatalf("rotate step was not retried: %+v", rot)
	}
	if len(st.OpenAI.Creations()) != 0 || !st.OpenAI.Live(raw) {
		t.Fatal("the provider was touched although Vault was sealed")
	}
}
