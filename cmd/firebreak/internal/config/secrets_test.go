package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSecrets: the embedded default (no secret configured) passes; a
// configured reference that cannot be read is named by its field path and
// where it was set (file position or environment variable); vault:
// references are left to step time; no value is ever printed.
func TestCheckSecrets(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets(t.Context(), env(nil)); err != nil {
		t.Fatalf("the embedded default (secrets unset) is refused: %v", err)
	}

	const canary = "CANARY-check-secrets-value-00000"
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(good, []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	p := write(t, `github:
  webhook_secret: env:WEBHOOK
  token: file:`+good+`
providers:
  anthropic: {admin_key: env:MISSING}
  openai: {admin_key: vault:secret/data/openai#key}
vault:
  address: https://vault.example.com:8200
  auth: {method: approle, role_id: file:`+good+`, secret_id: env:SECRET_ID}
`)
	getenv := env(map[string]string{"WEBHOOK": canary, "MISSING": canary, "SECRET_ID": canary, "FIREBREAK_TICKETS_TOKEN": "file:" + good})
	c, err = Load(p, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets(t.Context(), getenv); err != nil {
		t.Fatalf("readable references refused: %v", err)
	}
	getenv = env(map[string]string{"SECRET_ID": canary, "FIREBREAK_TICKETS_TOKEN": "file:" + dir})
	if c, err = Load(p, getenv); err != nil {
		t.Fatal(err)
	}
	err = c.CheckSecrets(t.Context(), getenv)
	if err == nil {
		t.Fatal("unreadable references accepted")
	}
	want := "invalid configuration:\n  " + strings.Join([]string{
		p + ":2:19: github.webhook_secret: secret env:WEBHOOK: environment variable is empty or unset",
		p + ":5:26: providers.anthropic.admin_key: secret env:MISSING: environment variable is empty or unset",
		"FIREBREAK_TICKETS_TOKEN: tickets.token: secret file:" + dir + ": is a directory",
	}, "\n  ")
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatal("a secret's value was printed")
	}
}
