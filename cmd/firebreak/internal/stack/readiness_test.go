package stack_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// refusingPort is a loopback port bound but not listening: connections to it
// are refused, and, bound without SO_REUSEADDR, no other socket (an emulator
// started after it) can take it — unlike a port released after Listen.
type refusingPort struct {
	fd   int
	file *os.File // owns fd (closes it at the end of the test)
	addr string
}

func newRefusingPort(t *testing.T) *refusingPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "refusing-port")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return &refusingPort{fd: fd, file: f, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))}
}

// listen makes the port accept connections (and close them at once).
func (p *refusingPort) listen(t *testing.T) {
	t.Helper()
	if err := syscall.Listen(p.fd, 64); err != nil {
		t.Fatal(err)
	}
	l, err := net.FileListener(p.file) // a duplicate of the descriptor
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// readyz is a GET /readyz answer: its status, problems and checks.
type readyz struct {
	code     int
	ready    bool
	problems map[string]string
	checks   map[string]string
	errMsg   string
	raw      string
}

func getReadyz(t *testing.T, e *env, query string) readyz {
	t.Helper()
	r := getJSON(t, e.URL+"/readyz"+query, "")
	out := readyz{code: r.code, raw: string(r.raw), problems: map[string]string{}, checks: map[string]string{}}
	out.ready, _ = r.body["ready"].(bool)
	out.errMsg, _ = r.body["error"].(string)
	for k, v := range asMap(r.body["problems"]) {
		out.problems[k] = fmt.Sprint(v)
	}
	for k, v := range asMap(r.body["checks"]) {
		out.checks[k] = fmt.Sprint(v)
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// waitReadyz polls GET /readyz until ok holds or the deadline passes (a
// dependency's failure is cached for a few seconds: its recovery shows on
// the first probe after that).
func waitReadyz(t *testing.T, e *env, query string, within time.Duration, ok func(readyz) bool) readyz {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := getReadyz(t, e, query)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz%s after %s: %d %s", query, within, r.code, r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadinessRequiredProviderUnreachable: OpenAI's API (for which Firebreak
// holds an admin key of its own, so it is required) is unreachable. /readyz
// answers 503 naming provider/openai and the address it could not reach, and
// only that; the other required providers are checked and fine; a provider
// that acts with the leaked key (Hugging Face) and one in dry-run (Anthropic)
// are not checked although they are unreachable too. The metrics an alert
// reads say the same. ?exclude=providers and ?exclude=provider/openai answer
// 200 (the second still checking the other providers); a name that is no
// check is refused with 400. When OpenAI's API comes back, /readyz turns 200
// on its own (the failure is cached 5 s, not kept).
func TestReadinessRequiredProviderUnreachable(t *testing.T) {
	openaiPort := newRefusingPort(t)
	openai, hf, anthropic := openaiPort.addr, newRefusingPort(t).addr, newRefusingPort(t).addr
	// The stack starts without probing the providers (its start waits on
	// ?exclude=providers), so that the first /readyz below probes them.
	e := start(t, stack.Options{ReadyExclude: "providers", Configure: func(c *config.Config) {
		c.Providers.OpenAI.BaseURL = "http://" + openai
		c.Providers.HuggingFace.BaseURL = "http://" + hf
		c.Providers.Anthropic.BaseURL, c.Providers.Anthropic.DryRun = "http://"+anthropic, true
	}})

	r := getReadyz(t, e, "")
	if r.code != http.StatusServiceUnavailable || r.ready {
		t.Fatalf("/readyz with OpenAI's API unreachable: %d %s, want 503", r.code, r.raw)
	}
	if len(r.problems) != 1 || !strings.HasPrefix(r.problems["provider/openai"], openai+": unreachable") {
		t.Fatalf("/readyz problems %v, want provider/openai alone, naming %s unreachable", r.problems, openai)
	}
	for _, ok := range []string{"jetstream", "provider/aws", "provider/google", "provider/stripe"} {
		if r.checks[ok] != "ok" {
			t.Errorf("/readyz check %s = %q, want ok", ok, r.checks[ok])
		}
	}
	for _, absent := range []string{"provider/huggingface", "provider/anthropic", "vault", "shutdown"} {
		if v, ok := r.checks[absent]; ok {
			t.Errorf("/readyz checks %s (%q): it is not required in this configuration", absent, v)
		}
	}
	metrics := string(getJSON(t, e.URL+"/metrics", "").raw)
	for _, want := range []string{"firebreak_ready 0", `firebreak_dependency_up{dependency="provider/openai"} 0`,
		`firebreak_dependency_up{dependency="provider/stripe"} 1`, `firebreak_dependency_up{dependency="jetstream"} 1`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The load balancer's probe leaves the providers out: ready.
	if r := getReadyz(t, e, "?exclude=providers"); r.code != http.StatusOK || !r.ready || len(r.checks) != 1 || r.checks["jetstream"] != "ok" {
		t.Fatalf("/readyz?exclude=providers: %d %s, want 200 checking jetstream alone", r.code, r.raw)
	}
	// Leaving OpenAI out: ready, the other providers still checked.
	r = getReadyz(t, e, "?exclude=provider/openai")
	if r.code != http.StatusOK || !r.ready || r.checks["provider/stripe"] != "ok" || r.checks["provider/openai"] != "" {
		t.Fatalf("/readyz?exclude=provider/openai: %d %s, want 200 with the other providers checked", r.code, r.raw)
	}
	// Repeated and comma-separated; a check this configuration lacks (vault)
	// may be named.
	r = getReadyz(t, e, "?exclude=jetstream&exclude=vault,provider/openai")
	if r.code != http.StatusOK || r.checks["jetstream"] != "" || r.checks["provider/aws"] != "ok" {
		t.Fatalf("/readyz?exclude=jetstream&exclude=vault,provider/openai: %d %s", r.code, r.raw)
	}
	// Excluding something else leaves OpenAI checked: still unready.
	if r := getReadyz(t, e, "?exclude=vault"); r.code != http.StatusServiceUnavailable || r.problems["provider/openai"] == "" {
		t.Fatalf("/readyz?exclude=vault: %d %s, want 503 naming provider/openai", r.code, r.raw)
	}
	// A name that is no check is refused, not ignored: a misspelt exclude
	// in a probe would otherwise only show when a provider outage takes
	// every instance out of rotation.
	for _, bad := range []string{"provider", "provider/opena1", "provider/huggingface", "providers,vualt", "shutdown"} {
		r := getReadyz(t, e, "?exclude="+bad)
		if r.code != http.StatusBadRequest {
			t.Errorf("/readyz?exclude=%s: %d %s, want 400", bad, r.code, r.raw)
			continue
		}
		name := strconv.Quote(bad[strings.LastIndex(bad, ",")+1:])
		if bad == "shutdown" {
			name = "shutdown check cannot be excluded"
		}
		if !strings.Contains(r.errMsg, name) {
			t.Errorf("/readyz?exclude=%s: error %q does not name %s", bad, r.errMsg, name)
		}
	}

	// OpenAI's API answers again (a TCP listener is all the probe needs for
	// http): /readyz recovers by itself, once the cached failure expires.
	openaiPort.listen(t)
	r = waitReadyz(t, e, "", 20*time.Second, func(r readyz) bool { return r.code == http.StatusOK })
	if !r.ready || r.checks["provider/openai"] != "ok" {
		t.Fatalf("/readyz after OpenAI came back: %d %s", r.code, r.raw)
	}
}

// TestReadinessVault: with vault.address set, /readyz checks Vault's
// sys/health. A sealed Vault makes it 503 naming vault as sealed
// (?exclude=vault still answers 200); a stopped one, once the cached answer
// expires, 503 naming it unreachable. The real Vault dev server.
func TestReadinessVault(t *testing.T) {
	t.Parallel()
	v := vaulttest.Start(t)
	prefix := vaulttest.UniquePrefix(t.Name())
	tok := tokenFile(t, v)
	// Started without probing Vault, so the first /readyz below does.
	e := start(t, stack.Options{ReadyExclude: "vault", Configure: func(c *config.Config) {
		c.Vault = vaultConfig(v, tok, prefix)
	}})
	v.Seal(t)
	r := getReadyz(t, e, "")
	if r.code != http.StatusServiceUnavailable || len(r.problems) != 1 || r.problems["vault"] != v.Addr+": sealed" {
		t.Fatalf("/readyz with Vault sealed: %d %s, want 503 naming vault %s sealed", r.code, r.raw, v.Addr)
	}
	if r := getReadyz(t, e, "?exclude=vault"); r.code != http.StatusOK || r.checks["vault"] != "" {
		t.Fatalf("/readyz?exclude=vault with Vault sealed: %d %s, want 200", r.code, r.raw)
	}
	v.Stop()
	r = waitReadyz(t, e, "", 20*time.Second, func(r readyz) bool {
		return r.code != http.StatusServiceUnavailable || !strings.Contains(r.problems["vault"], "sealed")
	})
	if r.code != http.StatusServiceUnavailable || !strings.HasPrefix(r.problems["vault"], v.Addr+": unreachable") {
		t.Fatalf("/readyz with Vault stopped: %d %s, want 503 naming vault %s unreachable", r.code, r.raw, v.Addr)
	}
}
