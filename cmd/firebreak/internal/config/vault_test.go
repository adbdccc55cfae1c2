package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadYAML(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "firebreak.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p, func(string) string { return "" })
}

func TestVaultConfig(t *testing.T) {
	cfg, err := loadYAML(t, `
providers:
  openai: {admin_key: "vault:secret/data/firebreak/openai#admin_key"}
vault:
  address: http://127.0.0.1:8200
  auth: {method: approle, role_id: env:VAULT_ROLE_ID, secret_id: file:/run/secrets/sid}
  blast_radius: {scopes: [{mount: secret, prefix: apps}], on_receive: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vault.Rotation.IntentPrefix != "firebreak/rotations" || !slices.Equal(cfg.VaultRefs(), []string{"secret/data/firebreak/openai"}) {
		t.Fatalf("defaults/refs: %+v %v", cfg.Vault.Rotation, cfg.VaultRefs())
	}
	for doc, want := range map[string]string{
		`providers: {openai: {admin_key: "vault:secret/data/x#k"}}`:                                        "a vault: reference needs vault.address",
		`vault: {address: http://v:8200, auth: {method: token, token: env:T}}`:                             "accepted only with vault.dev: true",
		`vault: {address: http://v:8200, auth: {method: approle, role_id: env:R}}`:                         "vault.auth.secret_id: is required",
		`vault: {address: http://v:8200, auth: {method: approle, role_id: env:R, secret_id: "vault:x#y"}}`: "must be an env: or file: reference",
		`vault: {address: http://v:8200, auth: {method: jwt, jwt: env:J}}`:                                 "vault.auth.role: is required",
		`vault: {address: http://v:8200, auth: {method: ldap}}`:                                            "must be one of approle",
		`vault: {transit: {key: fb}}`:                                                                      "vault.address: is required",
	} {
		_, err := loadYAML(t, doc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n  got %v\n  want %q", doc, err, want)
		}
	}
	// Kubernetes auth reads the pod's service-account token by default.
	cfg, err = loadYAML(t, `vault: {address: http://v:8200, auth: {method: kubernetes, role: firebreak}}`)
	if err != nil || !strings.Contains(string(cfg.Vault.Auth.JWT), "serviceaccount/token") {
		t.Fatalf("kubernetes: %v %v", err, cfg)
	}
	// A dev token is accepted in dev mode.
	if _, err := loadYAML(t, `vault: {address: http://v:8200, dev: true, auth: {method: token, token: env:T}}`); err != nil {
		t.Fatal(err)
	}
}
