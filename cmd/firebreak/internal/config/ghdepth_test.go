package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGHDepthValidation: the GitHub App, poller, partner and Jira settings
// are checked with their field paths and file positions.
func TestGHDepthValidation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firebreak.yaml")
	doc := `github:
  token: env:GITHUB_TOKEN
  app: {app_id: "", installation_id: 0, private_key: -----BEGIN}
  poll: {interval: 5s, repos: [acme], since: yesterday}
  partner: {types: {acme_token: {provider: openai}}}
jira:
  base_url: acme.atlassian.net
  api_token: env:JIRA
  projects: {PAY: {environment: production}}
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, func(string) string { return "" })
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		"github.app.app_id: is required", "github.app.installation_id: is required",
		"github.app.private_key: secrets must be references", "github.token: set github.token or github.app, not both",
		`github.poll.repos[0]: must be owner/name, got "acme"`, "github.poll.since: must be a date",
		"github.poll.interval: must be 0 (off) or at least 30s", "github.partner.types.acme_token: needs provider and type",
		"jira.base_url: must be an http(s) URL", "jira.email: is required",
		`jira.projects.PAY.environment: must be prod, staging or dev, got "production"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "-----BEGIN") {
		t.Fatal("an inline key was echoed")
	}
	if _, err := Load("", func(k string) string {
		return map[string]string{"FIREBREAK_GITHUB_POLL_SINCE": "2026-11-01", "FIREBREAK_GITHUB_APP_INSTALLATION_ID": "42",
			"FIREBREAK_GITHUB_APP_APP_ID": "7", "FIREBREAK_GITHUB_APP_PRIVATE_KEY": "file:/k.pem"}[k]
	}); err != nil {
		t.Fatalf("environment overrides: %v", err)
	}
}
