package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/cluster"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// benchStack starts Firebreak for a benchmark, in this process or (with
// BENCH_PROCESS=1) as a `firebreak serve` process (benchTarget): the org at
// the OpenAI emulator holds baseline keys in a few projects, like a small
// real organisation. fsync is nats.embedded.fsync; with a ",sync_state"
// suffix Firebreak's own state is fsynced too (nats.sync_state: true).
func benchStack(b *testing.B, fsync string, concurrency int) (*benchTarget, *benchOrg) {
	b.Helper()
	fsync, syncState := strings.CutSuffix(fsync, ",sync_state")
	spineDir := ""
	if spinePlaybook() {
		spineDir = b.TempDir()
		if err := os.WriteFile(filepath.Join(spineDir, "spine.yaml"), []byte(spineYAML), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	concurrency = envInt("BENCH_CONCURRENCY", concurrency)
	var t *benchTarget
	if benchProcess() {
		t = startServe(b, fsync, syncState, concurrency, spineDir)
	} else {
		// In one process, with the collector's target serve runs with
		// (GOGC=100 in the environment measures Go's default instead).
		app.ApplyGCDefault()
		st, err := stack.Start(context.Background(), stack.Options{DataDir: b.TempDir(), FSync: fsync, Concurrency: concurrency,
			// Benchmarks send more alerts than a user token's 5000 requests an hour.
			GitHubOptions: []githubemu.Option{githubemu.WithCoreRateLimit(1<<30, time.Hour)},
			Configure: func(c *config.Config) {
				c.Providers.GitHub.BatchWindow = config.Duration(10 * time.Millisecond)
				c.NATS.SyncState = syncState
				if spineDir != "" {
					off := false
					c.Playbooks.Builtin, c.Playbooks.Dir = &off, spineDir
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(st.Close)
		t = &benchTarget{OpenAI: st.OpenAI, GitHub: st.GitHub, Slack: st.Slack, Webhook: st.Webhook, st: st,
			url: st.URL, webhookSecret: st.WebhookSecret, client: app.NewHTTPClient()}
	}
	// The emulators keep only what the benchmarks read (the OpenAI DELETEs,
	// for when each arrived), not every request and message: a deployed
	// Firebreak shares its process with no emulator, and their records
	// (~25 KB an alert) would otherwise be most of the heap its garbage
	// collector marks. BENCH_RECORD_ALL=1 keeps everything; BENCH_DUMP
	// keeps the GitHub reads too (bench_dump_test.go).
	if os.Getenv("BENCH_RECORD_ALL") == "" {
		t.OpenAI.Server().Record("DELETE /v1/organization/projects/")
		if os.Getenv("BENCH_DUMP") != "" {
			t.GitHub.Server().Record("GET /repos/")
		} else {
			t.GitHub.Server().Record()
		}
		t.Slack.Record()
		t.Webhook.Record()
	}
	org := &benchOrg{}
	for _, name := range []string{"payments", "research", "platform"} {
		p := t.OpenAI.AddProject(name)
		org.projects = append(org.projects, p)
		for i := 0; i < 15; i++ {
			org.addKey(t, p, openaiemu.Owner{Type: "user", Name: fmt.Sprintf("user%d", i)})
		}
	}
	return t, org
}

// benchOrg makes the benchmark's OpenAI keys, each with a redacted form of
// its own (openaiemu.DistinctKeys): with thousands of random keys alive, two
// would otherwise share one now and then (about one run in three of
// BenchmarkThroughput), and Firebreak rightly refuses to guess which of them
// leaked — a different path from the one measured here, which would fail the
// run.
type benchOrg struct {
	projects []string
	keys     openaiemu.DistinctKeys
}

func (o *benchOrg) addKey(t *benchTarget, project string, owner openaiemu.Owner) (raw, keyID string) {
	raw = o.keys.Next("sk-proj-")
	return raw, t.OpenAI.AddKeyValue(project, raw, owner)
}

type leak struct {
	raw, keyID string
	alert      string // "owner/repo#number", as the GitHub emulator holds it
	body       []byte
	sent       time.Time
}

// keyLead is how long before its alert each benchmark key is created
// (BENCH_KEY_LEAD, a Go duration; default 3s). A leaked key exists before it
// leaks — seconds at the very least, usually months — so the organization's
// cached key listing (openai.DefaultIndexTTL, 2 s) holds it when Firebreak
// looks for its owner and revokes it. BENCH_KEY_LEAD=0 creates each key just
// before its alert: every lookup then misses the cached listing and waits
// for a fresh one, the worst case (BENCHMARKS.md has both).
func keyLead() time.Duration { return envDuration("BENCH_KEY_LEAD", 3*time.Second) }

// envDuration is the duration (≥ 0) in the environment variable name, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return def
}

// spinePlaybook reports whether BENCH_PLAYBOOK=spine: instead of the
// built-in playbooks (verify, revoke, Slack, the signed webhook, and writing
// the GitHub alert back as resolved), one playbook with exactly the three
// steps issue 2 measures: verify + revoke + notify (Slack).
func spinePlaybook() bool { return os.Getenv("BENCH_PLAYBOOK") == "spine" }

const spineYAML = `apiVersion: firebreak/v1
kind: Playbook
name: openai-spine
match:
  providers: [openai]
steps:
  - id: verify
    uses: provider.verify
  - id: revoke
    uses: provider.revoke
    if: steps.verify.outputs.live
  - id: notify
    uses: notify.slack
    with:
      severity: critical
      text: Revoked OpenAI key {{ .Exposure.Secret.Redacted }} (incident {{ .Incident.ID }}).
`

// notified counts incidents whose last step is done: the signed webhook's
// deliveries, or Slack's messages with the spine playbook.
func notified(t *benchTarget) int {
	if spinePlaybook() {
		return t.Slack.Count()
	}
	return t.Webhook.Count()
}

// envInt is the positive integer in the environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// prepare creates the key and the alert for leak i.
func prepare(t *benchTarget, org *benchOrg, i int) *leak {
	raw, keyID := org.addKey(t, org.projects[i%len(org.projects)], openaiemu.Owner{Type: "user", Name: "leaker"})
	repo := fmt.Sprintf("acme/svc-%d", i%50)
	owner, name, _ := strings.Cut(repo, "/")
	n := int64(i + 1)
	t.GitHub.AddAlertNumber(owner, name, n, "openai_api_key", raw)
	return &leak{raw: raw, keyID: keyID, alert: fmt.Sprintf("%s#%d", repo, n), body: stack.AlertPayload("created", repo, n, "openai_api_key")}
}

// revokeTimes maps key id → when its DELETE reached the OpenAI emulator.
func revokeTimes(t *benchTarget) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range t.OpenAI.Server().Requests() {
		if r.Method == http.MethodDelete {
			out[r.Path[strings.LastIndex(r.Path, "/")+1:]] = r.At
		}
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// BenchmarkWebhookToRevoke sends signed secret_scanning_alert webhooks at a
// fixed open-loop rate (500/s) and reports, per alert, the time from sending
// the webhook to its DELETE arriving at the OpenAI emulator: p50 and p99.
// b.N alerts are measured (use -benchtime=5000x for 10 s at 500/s), after
// BENCH_WARMUP (default 1s) of alerts at the same rate that are not.
// BENCH_RATE sets another rate (alerts/s), to measure below saturation;
// BENCH_SECONDS=FILE appends a per-second p99 (bench_seconds_test.go) and
// BENCH_DUMP=FILE writes where each alert's time went (bench_dump_test.go).
func BenchmarkWebhookToRevoke(b *testing.B) {
	rate := envInt("BENCH_RATE", 500)
	for _, fsync := range []string{"always", "1s"} {
		b.Run(fmt.Sprintf("fsync=%s/rate=%d", fsync, rate), func(b *testing.B) { benchLatency(b, fsync, rate) })
	}
}

func benchLatency(b *testing.B, fsync string, rate int) {
	tgt, org := benchStack(b, fsync, 64)
	// The first warm alerts (BENCH_WARMUP seconds at the rate, default 1 s)
	// are sent and revoked like the others but not measured: they meet cold
	// connection pools, caches and listings, which a deployment under a
	// sustained rate has warmed long since. BENCH_WARMUP=0 measures them.
	warm := int(envDuration("BENCH_WARMUP", time.Second).Seconds() * float64(rate))
	n := warm + b.N
	leaks := make([]*leak, n)
	ctx := context.Background()
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var failed atomic.Int64
	// Each key is created keyLead before its alert: the org holds its
	// baseline keys, the keys about to leak and those in flight.
	ahead := min(n, int(keyLead().Seconds()*float64(rate)))
	for i := range ahead {
		leaks[i] = prepare(tgt, org, i)
	}
	time.Sleep(keyLead())
	b.ResetTimer()
	start := time.Now()
	mono := markStart(ctx, b)
	disk := startDiskSampler(start)
	for i := range leaks {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if j := i + ahead; j < n {
			leaks[j] = prepare(tgt, org, j)
		}
		if leaks[i] == nil { // keyLead 0: created just before it leaks
			leaks[i] = prepare(tgt, org, i)
		}
		l := leaks[i]
		wg.Add(1)
		go func(i int, l *leak) {
			defer wg.Done()
			l.sent = time.Now()
			code, err := tgt.postAlert(ctx, fmt.Sprintf("bench-%d", i), l.body)
			if err != nil || code != http.StatusAccepted {
				failed.Add(1)
			}
			l.body = nil // sent: not part of the heap the rest of the run marks
		}(i, l)
	}
	wg.Wait()
	sendDur := time.Since(start)
	// Wait for every revocation (counting deletions is cheaper than copying
	// every recorded request each time), then read when each DELETE arrived.
	deadline := time.Now().Add(2 * time.Minute)
	for len(tgt.OpenAI.Deletions()) < n && !time.Now().After(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	at := revokeTimes(tgt)
	b.StopTimer()
	disk.Stop()
	writeHeapProfile(b)
	var lat []time.Duration
	var sent []time.Time
	for _, l := range leaks[warm:] {
		if t, ok := at[l.keyID]; ok {
			lat = append(lat, t.Sub(l.sent))
			sent = append(sent, l.sent)
		}
	}
	if len(lat) != b.N || len(at) != n || failed.Load() > 0 {
		b.Fatalf("%d of %d measured keys revoked (%d of %d in all), %d posts failed", len(lat), b.N, len(at), n, failed.Load())
	}
	logSeconds(b, start, sent, lat, disk) // before percentile sorts lat
	dumpAlerts(b, tgt, start, mono, leaks, warm)
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(percentile(lat, 1).Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(n)/sendDur.Seconds(), "sent/s")
	if tgt.st != nil {
		reportStepTimes(b, tgt.st)
	}
}

// writeHeapProfile writes the live heap, after a collection, to the file
// BENCH_HEAPPROFILE names (nothing when unset): what the collector marks at
// the end of a run, with the stack still up.
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("BENCH_HEAPPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkThroughput pushes alerts as fast as 64 concurrent senders can and
// reports exposures/s through verify + revoke + notify (Slack and the signed
// webhook, or Slack alone with BENCH_PLAYBOOK=spine), from the first webhook
// to the last notification, and the process's CPU time per exposure: with
// the default durability, with Firebreak's state fsynced too, and with fsync
// 1s. BENCH_SENDERS sets the number of senders (default 64),
// BENCH_CONCURRENCY the responders' concurrency (default 64);
// BENCH_CPU_SPLIT=1 also reports how that CPU divides between Firebreak, the
// emulators and the senders (cpuSplit).
func BenchmarkThroughput(b *testing.B) {
	for _, fsync := range []string{"always", "always,sync_state", "1s"} {
		b.Run("fsync="+fsync, func(b *testing.B) { benchThroughput(b, fsync) })
	}
}

func benchThroughput(b *testing.B, fsync string) {
	tgt, org := benchStack(b, fsync, 64)
	ctx := context.Background()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	leaks := make([]*leak, b.N)
	if keyLead() > 0 { // every key exists keyLead before the first alert
		for i := range leaks {
			leaks[i] = prepare(tgt, org, i)
		}
		time.Sleep(keyLead())
	}
	// The loop, the senders and the fixture are labelled apart from
	// Firebreak (and stack.Start labelled the emulators) for cpuSplit.
	defer pprof.SetGoroutineLabels(ctx)
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("part", "bench")))
	var split *cpuSplit
	if tgt.st != nil {
		split = startCPUSplit(b)
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), tgt.cpuTime()
	for w := 0; w < envInt("BENCH_SENDERS", 64); w++ {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("part", "sender"), func(ctx context.Context) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				l := leaks[i]
				if l == nil {
					pprof.Do(ctx, pprof.Labels("part", "fixture"), func(context.Context) { l = prepare(tgt, org, i) })
				}
				if code, err := tgt.postAlert(ctx, fmt.Sprintf("tp-%d", i), l.body); err != nil || code != http.StatusAccepted {
					b.Errorf("post %d: %d %v", i, code, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Up to 5 minutes, or 30 s without a notification.
	deadline := time.Now().Add(5 * time.Minute)
	last, progressed := 0, time.Now()
	for n := notified(tgt); n < b.N; n = notified(tgt) {
		if n > last {
			last, progressed = n, time.Now()
		}
		if time.Now().After(deadline) || time.Since(progressed) > 30*time.Second {
			if tgt.st != nil {
				logUnfinished(b, tgt.st)
			}
			b.Fatalf("only %d of %d incidents notified", notified(tgt), b.N)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), tgt.cpuTime()-cpu0
	b.StopTimer()
	split.report(b, cpu, b.N)
	if n := len(tgt.OpenAI.Deletions()); n != b.N {
		b.Fatalf("%d deletions for %d leaks", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "exposures/s")
	// CPU per exposure of the whole process (Firebreak, the emulators and
	// the senders), or of the serve process alone with BENCH_PROCESS=1, and
	// how busy the cores were.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu_ms/exposure")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	if tgt.serve != nil {
		if _, peak := cluster.RSS(tgt.serve.Process.Pid); peak > 0 {
			b.ReportMetric(float64(peak)/(1<<20), "serve_peak_rss_MiB")
		}
	}
	if tgt.st != nil {
		reportStepTimes(b, tgt.st)
		reportStreamWrites(b, tgt.st, b.N)
	}
}

// reportStreamWrites logs how many messages each stream took per exposure.
// With fsync always only the exposure stream's writes are fsynced; Firebreak's
// state streams persist asynchronously (unless nats.sync_state).
func reportStreamWrites(b *testing.B, st *stack.Stack, n int) {
	ctx := context.Background()
	var parts []string
	for name := range st.App.JS.StreamNames(ctx).Name() {
		s, err := st.App.JS.Stream(ctx, name)
		if err != nil {
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			continue
		}
		// Superseded KV values are gone from the state but were written:
		// the volume written is the writes times the mean stored size.
		var kb float64
		if info.State.Msgs > 0 {
			kb = float64(info.State.LastSeq) * float64(info.State.Bytes) / float64(info.State.Msgs) / 1024
		}
		parts = append(parts, fmt.Sprintf("%s=%.1f (%.1f KiB)", name, float64(info.State.LastSeq)/float64(n), kb/float64(n)))
	}
	sort.Strings(parts)
	b.Logf("stream writes (and KiB written) per exposure: %s", strings.Join(parts, " "))
}

// logUnfinished logs the incidents that are not closed, revoked and
// notified, with their steps.
func logUnfinished(b *testing.B, st *stack.Stack) {
	list, err := st.App.Incidents.List(context.Background())
	if err != nil {
		b.Logf("list incidents: %v", err)
		return
	}
	b.Logf("%d incidents, %d deletions, webhook rejections %v", len(list), len(st.OpenAI.Deletions()), st.Webhook.Rejections())
	for _, in := range list {
		if in.ClosedAt != nil && in.RevokedAt != nil && in.NotifiedAt != nil {
			continue
		}
		var steps []string
		for _, s := range in.Steps {
			steps = append(steps, fmt.Sprintf("%s:%s(%s|%s|%v)", s.ID, s.State, s.Error, s.Detail, s.Outputs))
		}
		b.Logf("incident %s state %s error %q key %s steps %s", in.ID, in.State, in.Error, in.KeyID, strings.Join(steps, " "))
	}
}

// reportStepTimes logs where an incident's time goes, averaged: queueing
// before the first step, each step, and the gaps between them.
func reportStepTimes(b *testing.B, st *stack.Stack) {
	list, err := st.App.Incidents.List(context.Background())
	if err != nil || len(list) == 0 {
		return
	}
	all := map[string][]time.Duration{}
	var order []string
	add := func(k string, d time.Duration) {
		if _, ok := all[k]; !ok {
			order = append(order, k)
		}
		all[k] = append(all[k], d)
	}
	for _, in := range list {
		prev := in.FirstReceivedAt
		for _, s := range in.Steps {
			if s.StartedAt == nil || s.EndedAt == nil {
				continue
			}
			add("before "+s.ID, s.StartedAt.Sub(prev))
			add(s.ID, s.EndedAt.Sub(*s.StartedAt))
			prev = *s.EndedAt
		}
	}
	var parts, tails []string
	for _, k := range order {
		var sum time.Duration
		for _, d := range all[k] {
			sum += d
		}
		parts = append(parts, fmt.Sprintf("%s=%.2fms", k, float64(sum.Microseconds())/1000/float64(len(list))))
		tails = append(tails, fmt.Sprintf("%s=%.2fms", k, float64(percentile(all[k], 0.99).Microseconds())/1000))
	}
	b.Logf("mean per incident (%d): %s", len(list), strings.Join(parts, " "))
	b.Logf("p99 per incident (%d): %s", len(list), strings.Join(tails, " "))
}
