package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVaultPolicyCommand(t *testing.T) {
	p := filepath.Join(t.TempDir(), "firebreak.yaml")
	doc := `
providers:
  openai: {admin_key: "vault:secret/data/firebreak/openai#admin_key"}
vault:
  address: http://127.0.0.1:8200
  auth: {method: approle, role_id: env:R, secret_id: env:S}
  rotation: {targets: [{mount: secret, prefix: apps}]}
  blast_radius: {scopes: [{mount: secret, prefix: apps}, {mount: kv-dev, prefix: ""}]}
  transit: {key: firebreak}
  revoke_prefixes: [aws/creds]
`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := vaultCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"policy", "--config", p})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"path \"secret/data/apps/*\" {\n  capabilities = [\"read\", \"update\"]",
		"path \"secret/metadata/apps/*\" {\n  capabilities = [\"update\", \"list\"]",
		"path \"kv-dev/metadata/*\" {\n  capabilities = [\"list\"]",
		"path \"secret/data/firebreak/rotations/*\" {\n  capabilities = [\"create\", \"read\", \"update\"]",
		"path \"secret/metadata/firebreak/rotations/*\" {\n  capabilities = [\"delete\"]",
		"path \"secret/data/firebreak/openai\" {\n  capabilities = [\"read\"]",
		"path \"transit/encrypt/firebreak\"",
		"path \"sys/leases/revoke-prefix/aws/creds/*\" {\n  capabilities = [\"update\", \"sudo\"]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("policy lacks %q:\n%s", want, out.String())
		}
	}
}
