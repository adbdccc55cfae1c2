package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesUnreadableSecrets runs `firebreak serve --config` as a user
// does with secret references that cannot be read: it exits with an error
// that names each field with its file:line:col, before it starts anything
// (the data dir is not even created), and never prints a secret's value.
// References that can be read, and secrets left unset, pass.
func TestServeRefusesUnreadableSecrets(t *testing.T) {
	const canary = "CANARY-firebreak-secret-value-0000"
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "good"), filepath.Join(dir, "empty")
	if err := os.WriteFile(good, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FB_SERVE_TEST_SET", canary)
	t.Setenv("FB_SERVE_TEST_EMPTY", "")
	os.Unsetenv("FB_SERVE_TEST_UNSET")
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "firebreak.yaml")
	body := "data_dir: " + dataDir + `
http: {listen: "127.0.0.1:0", admin_token: "file:` + good + `"}
github:
  webhook_secret: env:FB_SERVE_TEST_UNSET
  token: file:/nonexistent/firebreak-token
providers:
  openai: {admin_key: env:FB_SERVE_TEST_SET}
notifiers:
  slack: {default: {webhook_url: "file:` + empty + `"}}
ingest:
  tokens: ["file:` + good + `", env:FB_SERVE_TEST_EMPTY]
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := rootCmd()
	root.SetArgs([]string{"serve", "--config", cfg})
	err := root.ExecuteContext(ctx)
	if err == nil {
		t.Fatal("serve started with secret references that cannot be read")
	}
	want := "invalid configuration:\n  " + strings.Join([]string{
		cfg + ":4:19: github.webhook_secret: secret env:FB_SERVE_TEST_UNSET: environment variable is empty or unset",
		cfg + ":5:10: github.token: secret file:/nonexistent/firebreak-token: no such file or directory",
		cfg + ":9:" + col(body, 9, `"file:`) + ": notifiers.slack.default.webhook_url: secret file:" + empty + ": file is empty",
		cfg + ":11:" + col(body, 11, "env:FB_SERVE_TEST_EMPTY") + ": ingest.tokens[1]: secret env:FB_SERVE_TEST_EMPTY: environment variable is empty or unset",
	}, "\n  ")
	if err.Error() != want {
		t.Errorf("serve:\n%v\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatal("a secret's value was printed")
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Error("serve started (created its data dir) before refusing the configuration")
	}
}

// col is the 1-based column of the first sub on line (1-based) of body.
func col(body string, line int, sub string) string {
	return strconv.Itoa(strings.Index(strings.Split(body, "\n")[line-1], sub) + 1)
}
