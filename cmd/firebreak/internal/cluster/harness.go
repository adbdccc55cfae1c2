package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// FirebreakBin is the firebreak binary, built once per test binary.
func FirebreakBin(t testing.TB) string { return testbin.Firebreak(t) }

// Options configure a Harness.
type Options struct {
	NATS      NATSOptions // ignored when Embedded
	Embedded  bool        // one instance with its embedded nats-server (fsync always), no external servers
	Instances int
	// Per-instance settings.
	Concurrency   int           // responders.concurrency (16 when zero)
	AckWait       time.Duration // nats.ack_wait (5s when zero)
	Grace         time.Duration // responders.grace (5s when zero)
	ShutdownDelay time.Duration
	LogLevel      string // info when empty
	// ProviderLatency is added to every OpenAI API call at the emulator, like
	// a real provider's round trip (0: none).
	ProviderLatency time.Duration
}

// Harness is the emulators plus the nats-servers plus the firebreak processes.
type Harness struct {
	T       testing.TB
	Dir     string
	Opts    Options
	NATS    *NATS // nil when embedded
	OpenAI  *openaiemu.Emulator
	GitHub  *githubemu.Emulator
	Slack   *slackemu.Emulator
	Keyring *secret.Keyring

	Instances []*Instance

	webhookSecret string
	env           []string
	projects      []string
	openAIKeys    openaiemu.DistinctKeys // every key revocable by its redacted form
	client        *http.Client
	mu            sync.Mutex
	nextAlert     int64
}

// Instance is one `firebreak serve` process.
type Instance struct {
	Name    string
	Addr    string
	cfgPath string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// New starts the emulators, the nats-servers and the instances.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	if o.Instances <= 0 {
		o.Instances = 1
	}
	if o.Embedded {
		o.Instances = 1
	}
	if o.AckWait == 0 {
		o.AckWait = 5 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	if o.Concurrency == 0 {
		o.Concurrency = 16
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	h := &Harness{T: t, Dir: t.TempDir(), Opts: o, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}}}
	bin := FirebreakBin(t)

	h.OpenAI = openaiemu.New()
	h.OpenAI.Start()
	t.Cleanup(h.OpenAI.Close)
	h.GitHub = githubemu.New()
	h.GitHub.Start()
	t.Cleanup(h.GitHub.Close)
	h.Slack = slackemu.New()
	h.Slack.Start()
	t.Cleanup(h.Slack.Close)
	hook := h.Slack.AddHook("#sec-incidents")
	if o.ProviderLatency > 0 {
		h.OpenAI.Server().Inject(faultDelay(o.ProviderLatency))
	}
	admin, _ := h.OpenAI.AddAdminKey("firebreak")
	// A small organisation: baseline keys in three projects.
	for _, name := range []string{"payments", "research", "platform"} {
		p := h.OpenAI.AddProject(name)
		h.projects = append(h.projects, p)
		for i := 0; i < 10; i++ {
			h.OpenAI.AddKeyValue(p, h.openAIKeys.Next("sk-proj-"), openaiemu.Owner{Type: "user", Name: fmt.Sprintf("user%d", i)})
		}
	}
	ghToken := h.GitHub.AddToken("ghp_", "firebreak-bot")
	h.webhookSecret = "whsec-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	h.env = []string{"T_WEBHOOK=" + h.webhookSecret, "T_GH=" + ghToken, "T_ADMIN=" + admin, "T_SLACK=" + h.Slack.HookURL(hook)}

	// One keyring for the deployment, shared by every instance.
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(h.Dir, "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	h.Keyring = kr
	if !o.Embedded {
		h.NATS = StartNATS(t, h.Dir, o.NATS)
	}
	for i := 0; i < o.Instances; i++ {
		in := &Instance{Name: fmt.Sprintf("fb%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
		in.cfgPath = filepath.Join(h.Dir, in.Name+".yaml")
		in.logPath = filepath.Join(h.Dir, in.Name+".log")
		if err := os.WriteFile(in.cfgPath, []byte(h.config(in)), 0o600); err != nil {
			t.Fatal(err)
		}
		h.Instances = append(h.Instances, in)
	}
	// Registered before the processes start: an instance that never becomes
	// ready fails the test, and its siblings must not outlive it.
	t.Cleanup(h.stopAll)
	t.Cleanup(h.keepLogs)
	var wg sync.WaitGroup
	for _, in := range h.Instances {
		wg.Add(1)
		go func() { defer wg.Done(); h.start(bin, in) }()
	}
	wg.Wait()
	for _, in := range h.Instances {
		if err := h.WaitReady(in, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// keepLogs copies every process's log out of the temporary directory when
// the test failed, and says where.
func (h *Harness) keepLogs() {
	if !h.T.Failed() {
		return
	}
	dst, err := os.MkdirTemp("", "firebreak-cluster-logs-")
	if err != nil {
		return
	}
	paths, _ := filepath.Glob(filepath.Join(h.Dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(h.Dir, "nats-*", "nats.log"))
	for _, p := range append(paths, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(p, h.Dir+string(os.PathSeparator)), string(os.PathSeparator), "-")
		_ = os.WriteFile(filepath.Join(dst, name), b, 0o600)
	}
	h.T.Logf("process logs kept in %s", dst)
}

func (h *Harness) config(in *Instance) string {
	o := h.Opts
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\n", filepath.Join(h.Dir, in.Name+"-data"))
	fmt.Fprintf(&b, "keyring: {file: %s}\n", filepath.Join(h.Dir, "keyring.json"))
	fmt.Fprintf(&b, "log: {level: %s, format: json}\n", o.LogLevel)
	fmt.Fprintf(&b, "http: {listen: %q, shutdown_delay: %s}\n", in.Addr, o.ShutdownDelay)
	if o.Embedded {
		fmt.Fprintf(&b, "nats: {ack_wait: %s, embedded: {fsync: always}}\n", o.AckWait)
	} else {
		replicas := 1
		if len(h.NATS.Nodes) >= 3 {
			replicas = 3
		}
		fmt.Fprintf(&b, "nats: {url: %q, replicas: %d, ack_wait: %s}\n", h.NATS.URL(), replicas, o.AckWait)
	}
	fmt.Fprintf(&b, "responders: {concurrency: %d, grace: %s}\n", o.Concurrency, o.Grace)
	fmt.Fprintf(&b, "github: {webhook_secret: env:T_WEBHOOK, token: env:T_GH, api_url: %s}\n", h.GitHub.URL())
	fmt.Fprintf(&b, "providers:\n  openai: {base_url: %s, admin_key: env:T_ADMIN}\n  github: {base_url: %s}\n", h.OpenAI.URL(), h.GitHub.URL())
	b.WriteString("notifiers:\n  slack: {default: {webhook_url: env:T_SLACK}}\n")
	return b.String()
}

func (h *Harness) start(bin string, in *Instance) {
	lf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.T.Error(err)
		return
	}
	cmd := exec.Command(bin, "serve", "--config", in.cfgPath)
	cmd.Env = append(os.Environ(), h.env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		h.T.Error(err)
		return
	}
	exited := make(chan struct{})
	in.mu.Lock()
	in.cmd, in.exited, in.exitErr = cmd, exited, nil
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		lf.Close()
		in.mu.Lock()
		in.exitErr = err
		in.mu.Unlock()
		close(exited)
	}()
}

// Restart starts a stopped instance again (same configuration and data dir).
func (h *Harness) Restart(i int) error {
	in := h.Instances[i]
	h.start(FirebreakBin(h.T), in)
	return h.WaitReady(in, 60*time.Second)
}

// WaitReady waits for GET /readyz to answer 200.
func (h *Harness) WaitReady(in *Instance, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := h.client.Get("http://" + in.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never became ready:\n%s", in.Name, h.Log(in))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns an instance's log so far (its last 8 KiB).
func (h *Harness) Log(in *Instance) string {
	b, _ := os.ReadFile(in.logPath)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// LogLines returns the instance's JSON log lines whose msg contains substr.
func (h *Harness) LogLines(in *Instance, substr string) []map[string]any {
	f, err := os.Open(in.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, substr) {
			out = append(out, m)
		}
	}
	return out
}

// Kill SIGKILLs instance i.
func (h *Harness) Kill(i int) { h.signal(i, syscall.SIGKILL) }

// Terminate sends SIGTERM to instance i and returns how long it took to exit
// and its exit error (nil: exit status 0).
func (h *Harness) Terminate(i int, within time.Duration) (time.Duration, error) {
	in := h.Instances[i]
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	in.mu.Unlock()
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-exited
		return time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM", in.Name, within)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cmd = nil
	return time.Since(start), in.exitErr
}

func (h *Harness) signal(i int, sig syscall.Signal) {
	in := h.Instances[i]
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-exited
}

// Alive reports whether instance i runs.
func (h *Harness) Alive(i int) bool {
	in := h.Instances[i]
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cmd != nil
}

// PID returns instance i's process id (0 when not running).
func (h *Harness) PID(i int) int {
	in := h.Instances[i]
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return 0
	}
	return in.cmd.Process.Pid
}

func (h *Harness) stopAll() {
	for i := range h.Instances {
		h.Kill(i)
	}
}

// Leak is one leaked OpenAI key and the alert(s) that report it.
type Leak struct {
	I      int
	Raw    string
	KeyID  string
	Bodies [][]byte // one signed alert body per report
	Sent   time.Time
	// Accepted holds the exposure id of each report once answered 2xx.
	Accepted []string
	Attempts int
}

// NewLeak creates a live key at the OpenAI emulator and reports alerts for it
// at GitHub: reports > 1 makes several alerts (in different repositories) of
// the same key.
func (h *Harness) NewLeak(i, reports int) *Leak {
	raw := h.openAIKeys.Next("sk-proj-")
	keyID := h.OpenAI.AddKeyValue(h.projects[i%len(h.projects)], raw, openaiemu.Owner{Type: "user", Name: "leaker"})
	l := &Leak{I: i, Raw: raw, KeyID: keyID}
	for r := 0; r < max(1, reports); r++ {
		h.mu.Lock()
		h.nextAlert++
		n := h.nextAlert
		h.mu.Unlock()
		repo := fmt.Sprintf("svc-%d", (i+r*7)%40)
		h.GitHub.AddAlertNumber("acme", repo, n, "openai_api_key", raw)
		l.Bodies = append(l.Bodies, stack.AlertPayload("created", "acme/"+repo, n, "openai_api_key"))
	}
	return l
}

// IncidentID is the incident of the leak's key.
func (h *Harness) IncidentID(l *Leak) string {
	return incident.IDFor(h.Keyring.Fingerprint(secret.New(l.Raw)))
}

// Post sends one signed secret_scanning_alert delivery to instance i.
func (h *Harness) Post(ctx context.Context, i int, delivery string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.Instances[i].Addr+"/v1/ingest/github", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "secret_scanning_alert")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", ghingest.SignatureHeader(secret.New(h.webhookSecret), body))
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Deliver sends a delivery the way GitHub behind a load balancer would:
// starting at instance `first`, a refused connection or a 5xx moves on to the
// next running instance after a short pause, with the same delivery id,
// until a 2xx or ctx ends. It returns the exposure id and the attempts made.
func (h *Harness) Deliver(ctx context.Context, first int, delivery string, body []byte) (string, int, error) {
	attempts := 0
	for k := 0; ; k++ {
		i := (first + k) % len(h.Instances)
		if !h.Alive(i) {
			if k%len(h.Instances) == len(h.Instances)-1 { // none running
				select {
				case <-ctx.Done():
					return "", attempts, fmt.Errorf("delivery %s: no instance running: %w", delivery, ctx.Err())
				case <-time.After(100 * time.Millisecond):
				}
			}
			continue
		}
		attempts++
		code, b, err := h.Post(ctx, i, delivery, body)
		if err == nil && code/100 == 2 {
			var ans struct {
				ExposureID string `json:"exposure_id"`
			}
			_ = json.Unmarshal(b, &ans)
			return ans.ExposureID, attempts, nil
		}
		if err == nil && code/100 == 4 {
			return "", attempts, fmt.Errorf("delivery %s refused: %d %s", delivery, code, b)
		}
		select {
		case <-ctx.Done():
			return "", attempts, fmt.Errorf("delivery %s never accepted: %w (last: %d %v)", delivery, ctx.Err(), code, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RSS returns a process's resident set size now and its peak, in bytes.
func RSS(pid int) (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return now, peak
}
