package stack_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook/webhookemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// benchTarget is what a benchmark drives: the emulators Firebreak talks to,
// and Firebreak itself, either in the benchmark's process (st, a
// stack.Stack) or, with BENCH_PROCESS=1, as a `firebreak serve` child
// process: the deployed binary, whose heap, garbage collector and CPU time
// then hold only Firebreak and its embedded nats-server, while the
// emulators and the senders (GitHub and the providers, in a deployment) stay
// in the benchmark's process.
type benchTarget struct {
	OpenAI  *openaiemu.Emulator
	GitHub  *githubemu.Emulator
	Slack   *slackemu.Emulator
	Webhook *webhookemu.Receiver

	st *stack.Stack // nil for a serve process

	url           string // Firebreak's HTTP base URL
	webhookSecret secret.Value
	client        *http.Client
	serve         *exec.Cmd // the serve process, or nil
}

// benchProcess reports whether BENCH_PROCESS=1: Firebreak runs as a
// `firebreak serve` process (benchTarget).
func benchProcess() bool { return os.Getenv("BENCH_PROCESS") == "1" }

// postAlert posts a signed secret_scanning_alert webhook and returns the
// status.
func (t *benchTarget) postAlert(ctx context.Context, delivery string, body []byte) (int, error) {
	code, _, err := stack.PostGitHubTo(ctx, t.client, t.url, t.webhookSecret, "secret_scanning_alert", delivery, body)
	return code, err
}

// cpuTime is the CPU time Firebreak used so far: the serve process's, or,
// in process, this whole process's (Firebreak, the emulators and the
// senders).
func (t *benchTarget) cpuTime() time.Duration {
	if t.serve == nil {
		return cpuTime()
	}
	return processCPU(t.serve.Process.Pid)
}

// processCPU is the CPU time (user + system) of process pid so far, from
// /proc/pid/stat; 0 when it cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses;
	// utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100
	// on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}

// startServe starts the emulators in this process and `firebreak serve`
// against them with the benchmark's settings (the config stack.Stack would
// use for the parts the benchmarks exercise), and waits until it is ready.
// Its log goes to a file in a temporary directory.
func startServe(b *testing.B, fsync string, syncState bool, concurrency int, playbookDir string) *benchTarget {
	b.Helper()
	bin := testbin.Firebreak(b)
	t := &benchTarget{
		OpenAI: openaiemu.New(),
		GitHub: githubemu.New(githubemu.WithCoreRateLimit(1<<30, time.Hour)),
		Slack:  slackemu.New(),
		client: app.NewHTTPClient(),
	}
	hookSecret := rand.Text()
	t.Webhook = webhookemu.New(webhookemu.Config{Secret: []byte(hookSecret)})
	for _, s := range []interface{ Start() string }{t.OpenAI, t.GitHub, t.Slack, t.Webhook} {
		s.Start()
	}
	b.Cleanup(func() {
		for _, c := range []interface{ Close() }{t.OpenAI, t.GitHub, t.Slack, t.Webhook} {
			c.Close()
		}
	})
	hook := t.Slack.AddHook("#sec-incidents")
	admin, _ := t.OpenAI.AddAdminKey("firebreak-responder")
	ghToken := t.GitHub.AddToken("ghp_", "firebreak-bot")
	whSecret := rand.Text()
	t.webhookSecret = secret.New(whSecret)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.url = "http://" + addr
	dir := b.TempDir()
	playbooks := ""
	if playbookDir != "" {
		playbooks = fmt.Sprintf("playbooks: {builtin: false, dir: %q}\n", playbookDir)
	}
	cfg := fmt.Sprintf(`data_dir: %q
log: {level: info, format: json}
http: {listen: %q}
nats: {embedded: {fsync: %q}, sync_state: %v}
responders: {concurrency: %d}
github: {webhook_secret: env:BENCH_GITHUB_WEBHOOK, token: env:BENCH_GITHUB_TOKEN, api_url: %q}
providers:
  openai: {base_url: %q, admin_key: env:BENCH_OPENAI_ADMIN_KEY}
  github: {base_url: %q, batch_window: 10ms}
notifiers:
  slack: {default: {webhook_url: env:BENCH_SLACK_WEBHOOK_URL}}
  webhook: {default: {url: %q, secret: env:BENCH_OUTGOING_WEBHOOK}}
%s`, filepath.Join(dir, "data"), addr, fsync, syncState, concurrency, t.GitHub.URL(),
		t.OpenAI.URL(), t.GitHub.URL(), t.Webhook.URL()+"/firebreak", playbooks)
	cfgPath := filepath.Join(dir, "firebreak.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(),
		"BENCH_GITHUB_WEBHOOK="+whSecret, "BENCH_GITHUB_TOKEN="+ghToken, "BENCH_OPENAI_ADMIN_KEY="+admin,
		"BENCH_SLACK_WEBHOOK_URL="+t.Slack.HookURL(hook), "BENCH_OUTGOING_WEBHOOK="+hookSecret)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	t.serve = cmd
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := t.client.Get(t.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			b.Fatalf("firebreak serve never became ready:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
