package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func randStr(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		x, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[x.Int64()]
	}
	return string(b)
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func anthropicKey() string { return "sk-ant-api03-" + randStr(b64url, 93) + "AA" }

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runIn(stdin string, args ...string) (stdout, stderr string, err error) {
	root := rootCmd()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err
}

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return -1
	}
	return 0
}

func decodeFindings(t *testing.T, out string) []scanFinding {
	t.Helper()
	var fs []scanFinding
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var f scanFinding
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		fs = append(fs, f)
	}
	return fs
}

// TestScanFiles runs `firebreak scan DIR` as a pre-commit hook or CI does.
func TestScanFiles(t *testing.T) {
	dir := t.TempDir()
	oa := openaiemu.NewKeyValue("sk-proj-")
	an := anthropicKey()
	writeFile(t, filepath.Join(dir, "config", "prod.env"), "# settings\nDEBUG=false\nOPENAI_API_KEY="+oa+"\n")
	writeFile(t, filepath.Join(dir, "src", "client.py"), "import os\n\n\nclient = Anthropic(api_key=\""+an+"\")  # TODO\n")
	writeFile(t, filepath.Join(dir, "README.md"), "Set OPENAI_API_KEY=sk-proj-XXXXXXXX... in your env\n")
	writeFile(t, filepath.Join(dir, ".git", "config"), "token = "+an+"\n")
	out, stderr, err := runIn("", "scan", "--data-dir", t.TempDir(), dir)
	if exitCode(err) != 1 {
		t.Fatalf("exit %v (stderr %s)", err, stderr)
	}
	fs := decodeFindings(t, out)
	if len(fs) != 2 {
		t.Fatalf("%d findings:\n%s", len(fs), out)
	}
	want := []scanFinding{
		{Provider: "openai", Type: "openai_api_key", File: filepath.Join(dir, "config", "prod.env"), Line: 3, Column: 16},
		{Provider: "anthropic", Type: "anthropic_api_key", File: filepath.Join(dir, "src", "client.py"), Line: 4, Column: 29},
	}
	for i, w := range want {
		g := fs[i]
		if g.Provider != w.Provider || g.Type != w.Type || g.File != w.File || g.Line != w.Line || g.Column != w.Column ||
			len(g.Fingerprint) != 64 || !strings.Contains(g.Redacted, "…") {
			t.Errorf("finding %d: %+v, want %+v", i, g, w)
		}
	}
	if !strings.Contains(stderr, "fingerprints are keyed for this run only") || !strings.Contains(stderr, "2 finding(s) in 3 file(s)") {
		t.Errorf("stderr: %s", stderr)
	}
	providertest.AssertNoSecret(t, strings.TrimPrefix(oa, "sk-proj-"), out, stderr)
	providertest.AssertNoSecret(t, strings.TrimPrefix(an, "sk-ant-api03-"), out, stderr)
}

func TestScanStdinTextAndExitCodes(t *testing.T) {
	an := anthropicKey()
	out, stderr, err := runIn("line one\nkey: "+an+"\n", "scan", "--format", "text", "--exit-code", "3", "--data-dir", t.TempDir())
	if exitCode(err) != 3 || !strings.HasPrefix(out, "-:2:6: anthropic anthropic_api_key sk-ant-api03-…") {
		t.Fatalf("exit %v, out %q, stderr %q", err, out, stderr)
	}
	out, _, err = runIn("key: "+an+"\n", "scan", "--exit-code", "0", "--data-dir", t.TempDir(), "-")
	if err != nil || len(decodeFindings(t, out)) != 1 {
		t.Fatalf("--exit-code 0: %v %q", err, out)
	}
	out, _, err = runIn("nothing to see: 3f786850e387550fdab836ed7e6dc881de23001b\n", "scan", "--data-dir", t.TempDir())
	if err != nil || out != "" {
		t.Fatalf("clean input: %v %q", err, out)
	}
	if _, stderr, err := runIn("", "scan", "--data-dir", t.TempDir(), filepath.Join(t.TempDir(), "missing")); exitCode(err) != 2 || stderr == "" {
		t.Fatalf("missing file: %v %q", err, stderr)
	}
	if _, _, err := runIn("", "scan", "--format", "xml"); err == nil {
		t.Fatal("--format xml accepted")
	}
}

// TestScanFingerprintKeys: the local keyring's fingerprint (as serve
// computes it), a stable --fingerprint-key, or a per-run key.
func TestScanFingerprintKeys(t *testing.T) {
	an := anthropicKey()
	data := t.TempDir()
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(data, "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	fp := func(args ...string) string {
		t.Helper()
		out, _, err := runIn(an+"\n", append([]string{"scan", "--exit-code", "0"}, args...)...)
		fs := decodeFindings(t, out)
		if err != nil || len(fs) != 1 {
			t.Fatalf("%v %q", err, out)
		}
		return fs[0].Fingerprint
	}
	if got := fp("--data-dir", data); got != kr.Fingerprint(secret.New(an)) {
		t.Fatal("with a local keyring the fingerprint is not the deployment's")
	}
	keyFile := filepath.Join(t.TempDir(), "fpkey")
	writeFile(t, keyFile, "0123456789abcdef0123456789abcdef")
	empty := t.TempDir()
	a, b := fp("--data-dir", empty, "--fingerprint-key", "file:"+keyFile), fp("--data-dir", empty, "--fingerprint-key", "file:"+keyFile)
	if a != b || a == kr.Fingerprint(secret.New(an)) {
		t.Fatal("--fingerprint-key is not stable across runs")
	}
	// Two runs, each with a key of its own.
	if a, b := fp("--data-dir", empty), fp("--data-dir", empty); a == b {
		t.Fatal("per-run keys repeated")
	}
	if _, _, err := runIn(an, "scan", "--data-dir", empty, "--fingerprint-key", "inline-value-not-a-ref"); err == nil {
		t.Fatal("an inline fingerprint key was accepted")
	}
}

// TestScanPublish runs `firebreak scan --publish` against a whole Firebreak:
// the leaked OpenAI key in a file is revoked at the OpenAI emulator.
func TestScanPublish(t *testing.T) {
	st, err := stack.Start(context.Background(), stack.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, keyID := st.OpenAI.AddKey(st.OpenAI.AddProject("payments"), openaiemu.Owner{Type: "user", Name: "sam"})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "deploy", "values.yaml"), "image: api:1.2\nenv:\n  OPENAI_API_KEY: "+raw+"\n")
	out, stderr, err := runIn("", "scan", "--data-dir", st.App.Cfg.DataDir, "--publish", st.URL,
		"--label", "repo=acme/api", "--label", "branch=main", dir)
	if exitCode(err) != 1 || !strings.Contains(stderr, "published 1 finding(s)") || !strings.Contains(stderr, ": 1 new exposure(s)") {
		t.Fatalf("exit %v, stderr %s", err, stderr)
	}
	fs := decodeFindings(t, out)
	id := st.IncidentFor(raw)
	if len(fs) != 1 || "inc_"+fs[0].Fingerprint[:24] != id {
		t.Fatalf("finding %+v does not name the incident %s", fs, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := st.WaitIncident(ctx, id, stack.Terminal)
	if err != nil || in.State != incident.Contained {
		t.Fatalf("incident %v %v", in, err)
	}
	if d := st.OpenAI.Deletions(); len(d) != 1 || d[0].ID != keyID {
		t.Fatalf("deletions %v", d)
	}
	x := in.Exposures[0]
	if x.Source != "scan" || x.Location.Repo != "acme/api" || x.Location.Path != filepath.Join(dir, "deploy", "values.yaml") || x.Location.Line != 3 {
		t.Fatalf("exposure %+v", x)
	}
	providertest.AssertNoSecret(t, strings.TrimPrefix(raw, "sk-proj-"), out, stderr)

	// A wrong token: exit 2, the server's reason, nothing printed of the key.
	tokFile := filepath.Join(t.TempDir(), "tok")
	writeFile(t, tokFile, "wrong-token")
	_, stderr, err = runIn("", "scan", "--data-dir", t.TempDir(), "--publish", st.URL, "--token", "file:"+tokFile, dir)
	if exitCode(err) != 2 || !strings.Contains(stderr, "403: unknown ingest token") {
		t.Fatalf("wrong token: %v %s", err, stderr)
	}
	// Plain http to a remote host is refused before anything is read.
	if _, _, err := runIn("", "scan", "--publish", "http://firebreak.example.com", "--token", "file:"+tokFile, dir); err == nil ||
		!strings.Contains(err.Error(), "plain http") {
		t.Fatalf("remote http: %v", err)
	}
}
