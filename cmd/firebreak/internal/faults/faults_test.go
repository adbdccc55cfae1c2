package faults

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func firebreakBin(t testing.TB) string  { return testbin.Firebreak(t) }
func natsServerBin(t testing.TB) string { return testbin.NATSServer(t) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runFaults(t *testing.T, cfg Config, timeout time.Duration) *Report {
	t.Helper()
	cfg.Bin, cfg.NATSBin = firebreakBin(t), natsServerBin(t)
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
		if keep := os.Getenv("FIREBREAK_FAULTS_DIR"); keep != "" { // keep the processes' logs
			cfg.Dir = filepath.Join(keep, t.Name()+"-"+time.Now().Format("150405"))
		}
	}
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		t.Logf("fault run report:\n%s", rep)
	}
	if err != nil {
		t.Fatalf("fault run: %v (logs in %s)", err, cfg.Dir)
	}
	if len(rep.Violations) > 0 {
		t.Errorf("%d violations (process logs in %s)", len(rep.Violations), cfg.Dir)
	}
	if rep.Kills < cfg.Kills || rep.BusRestarts < cfg.BusRestarts {
		t.Errorf("the chaos fell short: %d kills of %d, %d bus restarts of %d", rep.Kills, cfg.Kills, rep.BusRestarts, cfg.BusRestarts)
	}
	if cfg.FaultRate > 0 && len(rep.Faults) < 8 {
		t.Errorf("only %d fault kinds were injected: %v", len(rep.Faults), rep.Faults)
	}
	return rep
}

// TestFaults is the short fault run that `go test ./...` includes: two
// Firebreak processes against a nats-server process, a few hundred
// exposures through every feed route, kill -9s, a bus restart, provider
// faults, permanent refusals, and the replay of every delivery.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real firebreak and nats-server processes")
	}
	runFaults(t, Config{
		Exposures: 240, Processes: 2, Kills: 4, BusRestarts: 1, BusDown: 4 * time.Second, Doomed: 3,
		FaultRate: 0.02, MaxConcurrency: 2, FeedRate: 30, Burst: 40, Replay: true, Settle: 3 * time.Minute,
	}, 4*time.Minute)
}

// TestFaultSoak is the full run (FIREBREAK_SOAK=1, `make faults`): 5,000
// exposures, three processes, 24 kill -9s, three bus restarts. Sizes can be
// changed with FIREBREAK_SOAK_EXPOSURES, _KILLS, _PROCESSES, _BUS_RESTARTS.
func TestFaultSoak(t *testing.T) {
	if os.Getenv("FIREBREAK_SOAK") == "" {
		t.Skip("the full fault soak runs with FIREBREAK_SOAK=1 (make faults)")
	}
	cfg := Config{
		Exposures:   envInt("FIREBREAK_SOAK_EXPOSURES", 5000),
		Processes:   envInt("FIREBREAK_SOAK_PROCESSES", 3),
		Kills:       envInt("FIREBREAK_SOAK_KILLS", 24),
		BusRestarts: envInt("FIREBREAK_SOAK_BUS_RESTARTS", 3),
		BusDown:     5 * time.Second, Doomed: 20, FaultRate: 0.02, MaxConcurrency: 4,
		FeedRate: float64(envInt("FIREBREAK_SOAK_RATE", 50)), Burst: envInt("FIREBREAK_SOAK_BURST", 50), Replay: true, Settle: 15 * time.Minute,
	}
	if d := os.Getenv("FIREBREAK_SOAK_DIR"); d != "" {
		cfg.Dir = d
	}
	runFaults(t, cfg, 2*time.Hour)
}

// TestCanary plants a canary secret through every ingest path (GitHub alert
// webhook, partner program, NDJSON logs, HEC, Loki, syslog, Jira, GitHub
// issue comment, generic tickets, scan --publish, and a provider refusal
// that echoes the key), with a kill -9 and a bus restart on the way, then
// greps every log line, stream message, KV entry, audit record, file at
// rest, HTTP answer (/metrics included) and notification: no plaintext.
func TestCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real firebreak and nats-server processes")
	}
	dir := t.TempDir()
	if keep := os.Getenv("FIREBREAK_FAULTS_DIR"); keep != "" {
		dir = filepath.Join(keep, t.Name()+"-"+time.Now().Format("150405"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := RunCanary(ctx, CanaryConfig{Bin: firebreakBin(t), NATSBin: natsServerBin(t), Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatalf("canary run: %v (logs in %s)", err, dir)
	}
	want := map[string]incident.State{PathEchoedInError: incident.Failed}
	for path := range c.Secrets {
		in := c.Incidents[path]
		w, ok := want[path]
		if !ok {
			w = incident.Contained
		}
		if in == nil || in.State != w {
			t.Errorf("%s: incident %v, want %s", path, in, w)
		}
	}
	if len(c.Secrets) != 11 {
		t.Errorf("%d ingest paths planted, want 11", len(c.Secrets))
	}
	kinds := map[string]int{}
	texts := make([]string, len(c.Texts))
	for i, x := range c.Texts {
		kinds[strings.Fields(x.Where)[0]]++
		texts[i] = x.Where + "\n" + x.Body
	}
	t.Logf("canary: %d texts grepped (%v)", len(texts), kinds)
	for _, k := range []string{"response", "stream", "file", "slack", "webhook", "output"} {
		if kinds[k] == 0 {
			t.Errorf("no %s texts collected: the grep would prove little", k)
		}
	}
	for path, raw := range c.Secrets {
		t.Run(path, func(t *testing.T) { providertest.AssertNoSecret(t, raw, texts...) })
	}
}
