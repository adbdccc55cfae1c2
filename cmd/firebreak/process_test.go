package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// buildBinary is the firebreak binary, built once per test binary.
func buildBinary(t *testing.T) string { return testbin.Firebreak(t) }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startServe(t *testing.T, bin, cfg string, env []string, addr string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &proc{cmd: cmd, out: out}
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("firebreak serve never became ready:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKill9MidRevocation runs `firebreak serve` as a real process, kills it
// with SIGKILL while its revocation request is in flight at the OpenAI
// emulator, restarts it, and checks that the redelivered exposure completes
// the incident with exactly one deletion of the key — with Firebreak's state
// persisted synchronously (the intent record survives: the revocation is
// resumed as a second, careful attempt) and asynchronously, the default (the
// last milliseconds of state may be lost with the process: the revocation is
// redone from scratch and the provider's idempotent revoke finds the key).
func TestKill9MidRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, syncState := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync_state=%v", syncState), func(t *testing.T) { kill9MidRevocation(t, bin, syncState) })
	}
}

func kill9MidRevocation(t *testing.T, bin string, syncState bool) {
	oai := openaiemu.New()
	oai.Start()
	defer oai.Close()
	gh := githubemu.New()
	gh.Start()
	defer gh.Close()
	sl := slackemu.New()
	sl.Start()
	defer sl.Close()
	hook := sl.AddHook("#sec")

	admin, _ := oai.AddAdminKey("firebreak")
	project := oai.AddProject("payments")
	leaked, _ := oai.AddKey(project, openaiemu.Owner{Type: "user", Name: "sam"})
	gh.AddAlertNumber("acme", "payments-api", 17, "openai_api_key", leaked)
	ghToken := gh.AddToken("ghp_", "firebreak-bot")
	webhookSecret := "whsec-process-test"

	dir := t.TempDir()
	addr := freePort(t)
	cfg := filepath.Join(dir, "firebreak.yaml")
	yaml := fmt.Sprintf(`data_dir: %s
log: {level: debug, format: json}
http: {listen: %q}
nats: {ack_wait: 2s, sync_state: %v}
github: {webhook_secret: env:T_WEBHOOK, token: env:T_GH, api_url: %s}
providers:
  openai: {base_url: %s, admin_key: env:T_ADMIN}
  github: {base_url: %s}
notifiers:
  slack: {default: {webhook_url: env:T_SLACK}}
`, filepath.Join(dir, "data"), addr, syncState, gh.URL(), oai.URL(), gh.URL())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"T_WEBHOOK=" + webhookSecret, "T_GH=" + ghToken, "T_ADMIN=" + admin, "T_SLACK=" + sl.HookURL(hook)}

	p := startServe(t, bin, cfg, env, addr)
	defer func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() }()
	oai.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Delay: 5 * time.Second})

	body := stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/ingest/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "secret_scanning_alert")
	req.Header.Set("X-GitHub-Delivery", "kill-1")
	req.Header.Set("X-Hub-Signature-256", ghingest.SignatureHeader(secret.New(webhookSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()

	// Wait for the revocation to be in flight, then SIGKILL.
	deadline := time.Now().Add(20 * time.Second)
	for oai.Server().Count("DELETE /v1/organization/projects/") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no revocation started:\n%s", p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	if !oai.Live(leaked) {
		t.Fatal("the killed request completed anyway; the test would prove nothing")
	}

	p = startServe(t, bin, cfg, env, addr)
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(dir, "data", "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	id := incident.IDFor(kr.Fingerprint(secret.New(leaked)))
	token, _ := os.ReadFile(filepath.Join(dir, "data", "admin-token"))
	var in incident.Incident
	deadline = time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/incidents/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_ = json.Unmarshal(b, &in)
			if in.State == incident.Contained && in.NotifiedAt != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident after restart: %s (%s)\n%s", in.State, in.Error, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(oai.Deletions()); n != 1 {
		t.Fatalf("the key was deleted %d times, want exactly once", n)
	}
	if oai.Live(leaked) {
		t.Fatal("the key is still live")
	}
	if rev := in.Step("openai-key-exposed/revoke"); syncState && (rev == nil || rev.Attempts != 2) {
		t.Fatalf("revoke step after the kill: %+v (want a second, resumed attempt)", rev)
	}
}
