// Package faults is Firebreak's fault harness. It runs real `firebreak
// serve` processes (the built binary) against a real nats-server process,
// with every provider and notifier emulated in the harness process, feeds
// them exposures of distinct keys through the webhook and log-sink routes,
// and meanwhile breaks things:
//
//   - kill -9 of Firebreak processes at random moments, each restarted;
//   - restarts of nats-server (SIGTERM and SIGKILL), the bus down for a while;
//   - provider faults at a configured rate per kind: latency, 429 with
//     Retry-After, 500/502/503, connection resets, responses lost after the
//     provider acted, timeouts; and keys whose revocation is refused
//     permanently;
//   - afterwards, every webhook delivery and log shipment of the run replayed.
//
// Then it checks what a user would: every acknowledged exposure has a
// finished incident, every key was revoked by exactly one call at its
// provider (zero lost, zero duplicated), nothing was acknowledged 2xx while
// the bus was down, the per-provider concurrency limit held, permanent
// failures were dead-lettered and paged, and the replay made no new side
// effect. RunCanary (canary.go) plants canary secrets through every ingest
// path and greps everything Firebreak wrote or answered.
//
// Run and RunCanary are driven by tests (faults_test.go): a short version in
// `go test ./...`, the full soak with FIREBREAK_SOAK=1 (`make faults`).
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Config sizes a fault run.
type Config struct {
	Bin     string // the firebreak binary
	NATSBin string // a nats-server binary
	Dir     string // work directory: configs, data, every process's log

	Exposures   int           // distinct keys fed
	Processes   int           // `firebreak serve` processes (each ingests and responds)
	Kills       int           // kill -9 of a Firebreak process (each restarted)
	BusRestarts int           // nats-server restarts
	BusDown     time.Duration // how long the bus stays down at each restart
	Doomed      int           // keys whose revocation the provider refuses (403): dead letter + page
	FaultRate   float64       // probability of each fault kind per provider request
	// MaxConcurrency is providers.<openai|anthropic>.max_concurrency of each process.
	MaxConcurrency int
	FeedRate       float64       // exposures offered per second (on average)
	Burst          int           // exposures offered at once, every Burst/FeedRate seconds (a leak storm)
	Feeders        int           // concurrent senders
	AckWait        time.Duration // nats.ack_wait (and the incident lease)
	Settle         time.Duration // longest wait for the incidents once the chaos is over
	Replay         bool          // replay every delivery afterwards
	Seed           uint64
	Logf           func(format string, args ...any)
}

func (c *Config) defaults() {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Exposures, 200)
	set(&c.Processes, 2)
	set(&c.MaxConcurrency, 4)
	set(&c.Burst, 1)
	set(&c.Feeders, max(16, c.Burst))
	if c.FeedRate == 0 {
		c.FeedRate = 50
	}
	if c.BusDown == 0 {
		c.BusDown = 4 * time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 3 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Report is what a run measured. Violations lists every broken promise;
// a good run has none.
type Report struct {
	Seed                 uint64
	Exposures, Accepted  int
	BySink               map[string]int
	Attempts             int            // HTTP requests of the feed
	Answers              map[string]int // feed answers by status ("0": no answer)
	Kills, Restarts      int            // Firebreak processes killed / restarted
	BusRestarts          int
	BusDownAnswers       map[string]int // answers to requests made entirely while the bus was down
	Faults               map[string]int // injected provider and notifier faults, by kind
	FaultsByServer       map[string]map[string]int
	Contained            int // incidents contained (key revoked exactly once)
	Failed               int // incidents failed (the doomed keys)
	DeadLetters          int
	Pages                int
	Lost                 int // acknowledged exposures without a revoked key / finished incident
	Duplicated           int // keys revoked by more than one call
	MaxInFlight          map[string]int
	InFlightLimit        int // MaxConcurrency × Processes
	MaxRevokeAttempts    int // the most attempts a revoke step took (across redeliveries)
	ExtraNotifications   int // webhook notifications beyond one per incident (at-least-once)
	Replayed             int
	ReplayAnswers        map[string]int
	ReplayNewExposures   int // exposures the replay published (log sinks republish after their window; merged)
	ReplaySideEffects    int // new revoke calls, notifications, pages after the replay (must be 0)
	FeedTime, SettleTime time.Duration
	Total                time.Duration
	Violations           []string
}

func (r *Report) violate(format string, args ...any) {
	if len(r.Violations) < 200 {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	}
}

// String renders the report as the lines BENCHMARKS.md quotes.
func (r *Report) String() string {
	var b strings.Builder
	kv := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, m[k])
		}
		return strings.Join(parts, " ")
	}
	total := 0
	for _, n := range r.Faults {
		total += n
	}
	fmt.Fprintf(&b, "seed %d\n", r.Seed)
	fmt.Fprintf(&b, "exposures %d (accepted %d; %s), %d HTTP requests, answers: %s\n", r.Exposures, r.Accepted, kv(r.BySink), r.Attempts, kv(r.Answers))
	fmt.Fprintf(&b, "kill -9 of firebreak: %d (restarted %d); nats-server restarts: %d; answers while the bus was down: %s\n",
		r.Kills, r.Restarts, r.BusRestarts, kv(r.BusDownAnswers))
	fmt.Fprintf(&b, "injected faults: %d (%s)\n", total, kv(r.Faults))
	fmt.Fprintf(&b, "incidents: contained %d, failed %d (dead letters %d, pages %d); lost %d; duplicated %d\n",
		r.Contained, r.Failed, r.DeadLetters, r.Pages, r.Lost, r.Duplicated)
	fmt.Fprintf(&b, "max in-flight provider requests: %s (limit %d = max_concurrency × processes); most revoke attempts %d; extra notifications %d\n",
		kv(r.MaxInFlight), r.InFlightLimit, r.MaxRevokeAttempts, r.ExtraNotifications)
	if r.Replayed > 0 {
		fmt.Fprintf(&b, "replayed deliveries %d (answers: %s), new exposures %d (merged), new side effects %d\n",
			r.Replayed, kv(r.ReplayAnswers), r.ReplayNewExposures, r.ReplaySideEffects)
	}
	fmt.Fprintf(&b, "feed %s, settle %s, total %s\n", r.FeedTime.Round(time.Second), r.SettleTime.Round(time.Second), r.Total.Round(time.Second))
	if len(r.Violations) > 0 {
		fmt.Fprintf(&b, "VIOLATIONS (%d):\n  %s\n", len(r.Violations), strings.Join(r.Violations, "\n  "))
	}
	return b.String()
}

// run is one fault run in progress.
type run struct {
	cfg    Config
	rep    *Report
	w      *world
	client *http.Client
	bus    *natsServer
	procs  []*firebreak
	items  []*item
	rng    *rand.Rand
	rngMu  sync.Mutex

	nc *nats.Conn
	js jetstream.JetStream

	mu       sync.Mutex
	attempts []attempt
	down     [][2]time.Time // intervals during which the bus was down
	next     atomic.Uint64
}

func (r *run) rand() float64 {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.Float64()
}

// Run performs a fault run and returns its report. An error means the
// harness itself could not run (a process would not start); broken promises
// are in Report.Violations.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	t0 := time.Now()
	r := &run{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 7)),
		rep: &Report{Seed: cfg.Seed, BySink: map[string]int{}, Answers: map[string]int{}, BusDownAnswers: map[string]int{},
			ReplayAnswers: map[string]int{}, MaxInFlight: map[string]int{}, InFlightLimit: cfg.MaxConcurrency * cfg.Processes}}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	r.w = newWorld()
	defer r.w.close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	r.client = &http.Client{Timeout: 20 * time.Second, Transport: tr}
	if err := r.startAll(ctx); err != nil {
		r.stopAll()
		return nil, err
	}
	defer r.stopAll()
	if err := r.prepare(); err != nil {
		return nil, err
	}
	r.injectFaults()

	// Feed and chaos, concurrently.
	cfg.Logf("feeding %d exposures at %.0f/s in bursts of %d into %d processes; %d kills, %d bus restarts, fault rate %.3f per kind",
		cfg.Exposures, cfg.FeedRate, cfg.Burst, cfg.Processes, cfg.Kills, cfg.BusRestarts, cfg.FaultRate)
	feedStart := time.Now()
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); r.chaos(ctx, feedStart) }()
	r.feed(ctx)
	r.rep.FeedTime = time.Since(feedStart)
	<-chaosDone
	if ctx.Err() != nil {
		return r.rep, ctx.Err()
	}

	// Settle: every acknowledged exposure's incident finished, the consumer idle.
	settleStart := time.Now()
	incs, err := r.settle(ctx)
	r.rep.SettleTime = time.Since(settleStart)
	if err != nil {
		return r.rep, err
	}
	r.check(ctx, incs)
	if cfg.Replay {
		if err := r.replay(ctx); err != nil {
			return r.rep, err
		}
	}
	r.rep.Total = time.Since(t0)
	return r.rep, nil
}

// startAll starts nats-server and the Firebreak processes.
func (r *run) startAll(ctx context.Context) error {
	var err error
	if r.bus, err = newNATSServer(r.cfg.NATSBin, r.cfg.Dir, r.client); err != nil {
		return err
	}
	if err := r.bus.start(ctx); err != nil {
		return err
	}
	pbDir := filepath.Join(r.cfg.Dir, "playbooks")
	if err := writePlaybooks(pbDir); err != nil {
		return err
	}
	for i := 0; i < r.cfg.Processes; i++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		cfgPath := filepath.Join(r.cfg.Dir, fmt.Sprintf("firebreak-%d.yaml", i))
		s := settings{DataDir: filepath.Join(r.cfg.Dir, fmt.Sprintf("data-%d", i)), Keyring: filepath.Join(r.cfg.Dir, "keyring.json"),
			Listen: addr, NATS: r.bus.URL, Playbooks: pbDir, LogLevel: "info", AckWait: r.cfg.AckWait, IngestTimeout: 2 * time.Second,
			Grace: time.Second, MaxDeliver: 10, Concurrency: 16, MaxConcurrency: r.cfg.MaxConcurrency, W: r.w}
		if err := writeConfig(cfgPath, s); err != nil {
			return err
		}
		r.procs = append(r.procs, newFirebreak(i, r.cfg.Bin, cfgPath, filepath.Join(r.cfg.Dir, fmt.Sprintf("firebreak-%d.log", i)),
			addr, r.w.environ(), r.client))
	}
	// The first process creates the shared keyring; the others read it.
	if err := r.procs[0].start(ctx); err != nil {
		return err
	}
	errs := make(chan error, len(r.procs))
	for _, p := range r.procs[1:] {
		go func() { errs <- p.start(ctx) }()
	}
	for range r.procs[1:] {
		if err := <-errs; err != nil {
			return err
		}
	}
	r.nc, err = nats.Connect(r.bus.URL, nats.Name("fault-harness"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	r.js, err = jetstream.New(r.nc)
	return err
}

func (r *run) stopAll() {
	for _, p := range r.procs {
		p.signal(syscall.SIGKILL)
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.bus != nil {
		r.bus.signal(syscall.SIGTERM)
	}
}

// feedSinks is the mix of routes: half GitHub alerts, half log and ticket sinks.
var feedSinks = []string{SinkGitHub, SinkLogs, SinkGitHub, SinkHEC, SinkGitHub, SinkLoki, SinkGitHub, SinkJira}

// prepare creates the keys at their providers, the alerts at GitHub, and
// each exposure's delivery.
func (r *run) prepare() error {
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(r.cfg.Dir, "keyring.json"))
	if err != nil {
		return err
	}
	doomEvery := 0
	if r.cfg.Doomed > 0 {
		doomEvery = max(1, r.cfg.Exposures/r.cfg.Doomed)
	}
	doomed := 0
	for i := 0; i < r.cfg.Exposures; i++ {
		it := &item{N: i, Sink: feedSinks[i%len(feedSinks)]}
		it.Provider = "openai"
		if it.Sink != SinkGitHub && (i/len(feedSinks))%2 == 0 {
			it.Provider = "anthropic"
		}
		repo := fmt.Sprintf("acme/service-%02d", i%40)
		switch it.Provider {
		case "openai":
			it.Raw, it.KeyID = r.w.openAIKey(i)
		default:
			it.Raw, it.KeyID = r.w.Anthropic.AddKey("wrkspc_faults", "user_faults")
		}
		if it.Sink == SinkGitHub {
			owner, name, _ := strings.Cut(repo, "/")
			r.w.GitHub.AddAlertNumber(owner, name, int64(i+1), "openai_api_key", it.Raw)
			if doomEvery > 0 && doomed < r.cfg.Doomed && i >= (doomed*doomEvery)+doomEvery/2 {
				it.Doomed = true // spread over the run
				doomed++
			}
		}
		it.Incident = incident.IDFor(kr.Fingerprint(secret.New(it.Raw)))
		it.Delivery = r.w.render(it, repo)
		r.items = append(r.items, it)
		r.rep.BySink[it.Sink]++
	}
	r.rep.Exposures = len(r.items)
	return nil
}

// faultKinds are injected at FaultRate each into every provider and
// notifier request: the steps' timeout is 3s, so "timeout" outlasts it.
func faultKinds(withTimeout bool) []emulator.Fault {
	ks := []emulator.Fault{
		{Name: "latency", Delay: 300 * time.Millisecond},
		{Name: "429", Status: http.StatusTooManyRequests, RetryAfter: "1"},
		{Status: http.StatusInternalServerError},
		{Status: http.StatusBadGateway},
		{Status: http.StatusServiceUnavailable},
		{Name: "reset", Drop: true},
		{Name: "lost-response", Drop: true, AfterHandler: true},
	}
	if withTimeout {
		ks = append(ks, emulator.Fault{Name: "timeout", Delay: 8 * time.Second})
	}
	return ks
}

func (r *run) injectFaults() {
	// Permanent refusals first: they win over the random faults.
	for _, it := range r.items {
		if it.Doomed {
			r.w.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE " + r.w.deletePath(it), Name: "403-doomed", Status: http.StatusForbidden,
				Body: `{"error":{"message":"This key belongs to a project locked by an organization policy.","type":"invalid_request_error","param":null,"code":"project_locked"}}`})
		}
	}
	if r.cfg.FaultRate <= 0 {
		return
	}
	servers := r.w.servers()
	for _, name := range []string{"openai", "anthropic", "github", "webhook", "pagerduty"} {
		for _, f := range faultKinds(name != "github") { // GitHub alert reads have no step timeout
			f.Rate = r.cfg.FaultRate
			servers[name].Inject(f)
		}
	}
}

// pick returns a running process, round robin (nil when none runs).
func (r *run) pick() *firebreak {
	for i := 0; i < len(r.procs); i++ {
		p := r.procs[int(r.next.Add(1))%len(r.procs)]
		if p.running() {
			return p
		}
	}
	return nil
}

// feed offers every item at FeedRate; each is sent until a 2xx answer, the
// way senders retry (GitHub redelivery, shippers' retries).
func (r *run) feed(ctx context.Context) {
	ch := make(chan *item)
	var wg sync.WaitGroup
	for f := 0; f < r.cfg.Feeders; f++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				r.deliver(ctx, it)
			}
		}()
	}
	every := time.Duration(float64(r.cfg.Burst) * float64(time.Second) / r.cfg.FeedRate)
	tick := time.NewTicker(every)
	for i, it := range r.items {
		select {
		case ch <- it:
		case <-ctx.Done():
		}
		if i%500 == 499 {
			r.cfg.Logf("fed %d/%d", i+1, len(r.items))
		}
		if i%r.cfg.Burst != r.cfg.Burst-1 {
			continue
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	tick.Stop()
	close(ch)
	wg.Wait()
}

func (r *run) deliver(ctx context.Context, it *item) {
	for n := 1; ctx.Err() == nil; n++ {
		p := r.pick()
		if p == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		a := attempt{Item: it.N, Proc: p.ID, Start: time.Now()}
		status, body := post(ctx, r.client, p.URL, it.Delivery)
		a.End, a.Status, a.Body = time.Now(), status, oneLine(body)
		r.mu.Lock()
		r.attempts = append(r.attempts, a)
		r.mu.Unlock()
		it.mu.Lock()
		it.attempts++
		if it.Delivery.OK(status) {
			it.accepted, it.acceptedAt = true, a.End
			it.mu.Unlock()
			return
		}
		it.mu.Unlock()
		time.Sleep(min(time.Duration(n)*100*time.Millisecond, time.Second))
	}
}

// chaos kills and restarts Firebreak processes at random moments and
// restarts the bus, spread over the expected feed time.
func (r *run) chaos(ctx context.Context, start time.Time) {
	span := time.Duration(float64(len(r.items)) / r.cfg.FeedRate * float64(time.Second))
	var busAt []time.Time
	for j := 0; j < r.cfg.BusRestarts; j++ {
		busAt = append(busAt, start.Add(span*time.Duration(j+1)/time.Duration(r.cfg.BusRestarts+1)))
	}
	gap := span / time.Duration(r.cfg.Kills+1)
	nextKill := start.Add(time.Duration(float64(gap) * (0.5 + r.rand())))
	kills, restarts := 0, 0
	for (kills < r.cfg.Kills || restarts < r.cfg.BusRestarts) && ctx.Err() == nil {
		busNext := restarts < r.cfg.BusRestarts && (kills >= r.cfg.Kills || busAt[restarts].Before(nextKill))
		at := nextKill
		if busNext {
			at = busAt[restarts]
		}
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			return
		}
		if busNext {
			r.restartBus(ctx, restarts%2 == 1)
			restarts++
			continue
		}
		r.killOne(ctx)
		kills++
		nextKill = time.Now().Add(time.Duration(float64(gap) * (0.5 + r.rand())))
	}
}

func (r *run) killOne(ctx context.Context) {
	var live []*firebreak
	for _, p := range r.procs {
		if p.running() {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return
	}
	p := live[int(r.rand()*float64(len(live)))]
	p.signal(syscall.SIGKILL)
	r.rep.Kills++
	r.cfg.Logf("kill -9 firebreak-%d (kill %d)", p.ID, r.rep.Kills)
	time.Sleep(time.Duration(r.rand() * float64(time.Second)))
	for try := 0; try < 5 && ctx.Err() == nil; try++ {
		if err := p.start(ctx); err != nil {
			r.cfg.Logf("restart of firebreak-%d failed (try %d): %v", p.ID, try+1, err)
			r.rep.violate("firebreak-%d did not restart after kill -9: %v", p.ID, err)
			continue
		}
		r.rep.Restarts++
		return
	}
}

// restartBus stops nats-server (SIGKILL when hard, else SIGTERM), keeps it
// down for BusDown, and starts it again on the same store.
func (r *run) restartBus(ctx context.Context, hard bool) {
	sig, how := syscall.SIGTERM, "SIGTERM"
	if hard {
		sig, how = syscall.SIGKILL, "SIGKILL"
	}
	r.bus.signal(sig)
	down := time.Now()
	r.cfg.Logf("nats-server stopped (%s); down for %s", how, r.cfg.BusDown)
	select {
	case <-time.After(r.cfg.BusDown):
	case <-ctx.Done():
	}
	up := time.Now()
	r.mu.Lock()
	r.down = append(r.down, [2]time.Time{down, up})
	r.mu.Unlock()
	if err := r.bus.start(ctx); err != nil {
		r.rep.violate("nats-server did not restart: %v", err)
		return
	}
	r.rep.BusRestarts++
	r.cfg.Logf("nats-server back")
}

// incidents reads every incident.
func (r *run) incidents(ctx context.Context) (map[string]*incident.Incident, error) {
	kv, err := r.js.KeyValue(ctx, exposure.BucketIncidents)
	if err != nil {
		return nil, err
	}
	list, err := (&incident.Store{KV: kv, JS: r.js}).List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*incident.Incident, len(list))
	for _, in := range list {
		out[in.ID] = in
	}
	return out, nil
}

// finished: the incident is done acting (a failed one after its on_failure steps).
func finished(in *incident.Incident) bool {
	return in != nil && (in.State.Terminal() || (in.State == incident.Failed && in.Lease == nil))
}

// settle waits until every accepted exposure's incident finished and the
// responders' consumer has nothing pending.
func (r *run) settle(ctx context.Context) (map[string]*incident.Incident, error) {
	deadline := time.Now().Add(r.cfg.Settle)
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		incs, err := r.incidents(sctx)
		var pending, ackPending uint64
		if err == nil {
			var c jetstream.Consumer
			if c, err = r.js.Consumer(sctx, exposure.StreamExposures, exposure.ConsumerResponders); err == nil {
				var ci *jetstream.ConsumerInfo
				if ci, err = c.Info(sctx); err == nil {
					pending, ackPending = ci.NumPending, uint64(ci.NumAckPending)
				}
			}
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		unfinished := 0
		if err == nil {
			for _, it := range r.items {
				if it.isAccepted() && !finished(incs[it.Incident]) {
					unfinished++
				}
			}
			if unfinished == 0 && pending == 0 && ackPending == 0 {
				return incs, nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, err
			}
			r.rep.violate("after %s: %d incidents unfinished, consumer pending %d, ack pending %d", r.cfg.Settle, unfinished, pending, ackPending)
			return incs, nil
		}
		r.cfg.Logf("settling: %d incidents unfinished, consumer pending %d, ack pending %d %v", unfinished, pending, ackPending, err)
		time.Sleep(2 * time.Second)
	}
}

var (
	openAIDelete    = regexp.MustCompile(`^/v1/organization/projects/[^/]+/api_keys/([^/]+)$`)
	anthropicUpdate = regexp.MustCompile(`^/v1/organizations/api_keys/([^/]+)$`)
)

// revokeCalls counts, by provider key id, the revocation requests that
// reached the provider's handler (so could have had their effect).
func (r *run) revokeCalls() map[string]int {
	out := map[string]int{}
	for _, q := range r.w.OpenAI.Server().Requests() {
		if m := openAIDelete.FindStringSubmatch(q.Path); m != nil && q.Method == http.MethodDelete && q.Handled {
			out[m[1]]++
		}
	}
	for _, q := range r.w.Anthropic.Requests() {
		if m := anthropicUpdate.FindStringSubmatch(q.Path); m != nil && q.Method == http.MethodPost && q.Handled &&
			strings.Contains(string(q.Body), `"inactive"`) {
			out[m[1]]++
		}
	}
	return out
}

// history lists the provider requests about it's key (verify with the key,
// revoke calls), with the fault each met, for diagnosing a violation.
func (r *run) history(it *item) string {
	var out []string
	var t0 time.Time
	reqs := r.w.Anthropic.Requests()
	if it.Provider == "openai" {
		reqs = r.w.OpenAI.Server().Requests()
	}
	for _, q := range reqs {
		what := ""
		switch {
		case q.Header.Get("Authorization") == "Bearer "+it.Raw || q.Header.Get("X-Api-Key") == it.Raw:
			what = "verify"
		case strings.HasSuffix(q.Path, "/"+it.KeyID):
			what = q.Method + " key"
		default:
			continue
		}
		if t0.IsZero() {
			t0 = q.At
		}
		f := q.Fault
		if f == "" {
			f = "ok"
		}
		out = append(out, fmt.Sprintf("+%dms %s (%s, handled %v)", q.At.Sub(t0).Milliseconds(), what, f, q.Handled))
	}
	return strings.Join(out, "; ")
}

func (r *run) live(it *item) bool {
	if it.Provider == "openai" {
		return r.w.OpenAI.Live(it.Raw)
	}
	return r.w.Anthropic.Live(it.Raw)
}

// check compares the world with the promises.
func (r *run) check(ctx context.Context, incs map[string]*incident.Incident) {
	rep := r.rep
	calls := r.revokeCalls()
	dead := map[string]int{}
	if msgs, err := streamMessages(ctx, r.js, exposure.StreamDead); err != nil {
		rep.violate("read the dead letters: %v", err)
	} else {
		for _, m := range msgs {
			dead[m.Header.Get("Firebreak-Incident")]++
		}
		rep.DeadLetters = len(msgs)
	}
	notified := map[string]int{}
	for _, m := range r.w.Webhook.Messages() {
		notified[m.Incident]++
	}
	for _, it := range r.items {
		if it.isAccepted() {
			rep.Accepted++
		} else {
			rep.violate("item %d (%s) was never accepted", it.N, it.Sink)
			continue
		}
		in := incs[it.Incident]
		n := calls[it.KeyID]
		if n > 1 {
			rep.Duplicated++
			rep.violate("%s key %s (item %d via %s) got %d revoke calls: %s", it.Provider, it.KeyID, it.N, it.Sink, n, r.history(it))
		}
		if in != nil {
			for _, st := range in.Steps {
				if st.ID == "revoke" {
					rep.MaxRevokeAttempts = max(rep.MaxRevokeAttempts, st.Attempts)
				}
			}
		}
		if it.Doomed {
			switch {
			case in == nil || in.State != incident.Failed:
				rep.Lost++
				rep.violate("doomed key %s (item %d): incident %v, want failed", it.KeyID, it.N, stateOf(in))
			case !r.live(it) || n != 0:
				rep.violate("doomed key %s (item %d): live %v after %d revoke calls — a half-done revocation", it.KeyID, it.N, r.live(it), n)
			default:
				rep.Failed++
			}
			if dead[it.Incident] == 0 {
				rep.violate("doomed key %s (item %d): no dead letter for %s", it.KeyID, it.N, it.Incident)
			}
			if a, ok := r.w.PagerDuty.Alert(r.w.pdService, it.Incident); ok && a.Status == "triggered" {
				rep.Pages++
			} else {
				rep.violate("doomed key %s (item %d): no page for %s", it.KeyID, it.N, it.Incident)
			}
			continue
		}
		switch {
		case in == nil || in.State != incident.Contained || r.live(it) || n == 0:
			rep.Lost++
			rep.violate("%s key %s (item %d via %s): incident %s, live %v, revoke calls %d", it.Provider, it.KeyID, it.N, it.Sink, stateOf(in), r.live(it), n)
		default:
			rep.Contained++
		}
		if dead[it.Incident] > 0 {
			rep.violate("%s (item %d) was contained but also dead-lettered", it.Incident, it.N)
		}
		if notified[it.Incident] > 1 {
			rep.ExtraNotifications += notified[it.Incident] - 1
		}
	}
	// Answers, and the bus-down promise: a request made entirely while the
	// bus was down is never acknowledged.
	r.mu.Lock()
	attempts, down := append([]attempt(nil), r.attempts...), append([][2]time.Time(nil), r.down...)
	r.mu.Unlock()
	rep.Attempts = len(attempts)
	inWindow := make([]int, len(down))
	for _, a := range attempts {
		rep.Answers[fmt.Sprint(a.Status)]++
		for j, d := range down {
			if a.Start.After(d[0]) && a.End.Before(d[1]) {
				rep.BusDownAnswers[fmt.Sprint(a.Status)]++
				inWindow[j]++
				if a.Status != http.StatusServiceUnavailable {
					rep.violate("item %d answered %d by firebreak-%d while the bus was down: %s", a.Item, a.Status, a.Proc, a.Body)
				}
			}
		}
	}
	for j, n := range inWindow {
		if n == 0 {
			rep.violate("no request was made entirely within bus outage %d: the 503 check proved nothing", j+1)
		}
	}
	// Faults and concurrency.
	rep.Faults, rep.FaultsByServer = map[string]int{}, map[string]map[string]int{}
	for name, s := range r.w.servers() {
		inj := s.Injected()
		if len(inj) > 0 {
			rep.FaultsByServer[name] = inj
		}
		for k, v := range inj {
			rep.Faults[k] += v
		}
	}
	for _, name := range []string{"openai", "anthropic"} {
		s := r.w.servers()[name]
		m := s.MaxInFlight()
		rep.MaxInFlight[name] = m
		// A client that times out frees its call slot at once, and its next
		// call can reach the emulator a moment before the emulator notices
		// the abandoned connection: with timeouts injected, the emulator can
		// count one request more than the clients hold (seen: 13 for 12, in
		// two soaks of ~1,600 timeouts). A limit not kept would show many
		// more (16 responders per process, 48 at once).
		allowed := rep.InFlightLimit
		if s.Injected()["timeout"] > 0 {
			allowed++
		}
		if m > allowed {
			rep.violate("%s had %d requests in flight at once, over max_concurrency %d × %d processes", name, m, r.cfg.MaxConcurrency, r.cfg.Processes)
		}
	}
}

func stateOf(in *incident.Incident) string {
	if in == nil {
		return "missing"
	}
	if in.Error != "" {
		return string(in.State) + " (" + in.Error + ")"
	}
	return string(in.State)
}

// sideEffects counts what the outside world saw Firebreak do.
func (r *run) sideEffects() (revokes, notifications, pages int) {
	for _, n := range r.revokeCalls() {
		revokes += n
	}
	notifications = len(r.w.Webhook.Deliveries())
	for _, q := range r.w.PagerDuty.Requests() {
		if q.Handled {
			pages++
		}
	}
	return
}

// replay posts every delivery of the run again, as GitHub's redelivery,
// Jira's retries and a shipper's resend do, and checks that nothing new
// happens outside (no revoke call, notification or page) and that every
// incident stays as it was.
func (r *run) replay(ctx context.Context) error {
	for _, s := range r.w.servers() {
		s.ClearFaults() // replay against well-behaved providers: any new call would show
	}
	before, err := r.incidents(ctx)
	if err != nil {
		return err
	}
	revokes0, notes0, pages0 := r.sideEffects()
	exp0, err := r.streamCount(ctx, exposure.StreamExposures)
	if err != nil {
		return err
	}
	ch := make(chan *item)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for f := 0; f < r.cfg.Feeders; f++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				p := r.pick()
				if p == nil {
					continue
				}
				status, body := post(ctx, r.client, p.URL, it.Delivery)
				mu.Lock()
				r.rep.Replayed++
				r.rep.ReplayAnswers[fmt.Sprint(status)]++
				if !accepted2xx(status) {
					r.rep.violate("replay of item %d (%s): %d %s", it.N, it.Sink, status, oneLine(body))
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range r.items {
		if it.isAccepted() {
			ch <- it
		}
	}
	close(ch)
	wg.Wait()
	// The log sinks fold a resend into the window of its first sighting and
	// publish the count when the window (2s) ends: wait for that, then for
	// the responders to merge it.
	time.Sleep(5 * time.Second)
	if _, err := r.settle(ctx); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	after, err := r.incidents(ctx)
	if err != nil {
		return err
	}
	exp1, err := r.streamCount(ctx, exposure.StreamExposures)
	if err != nil {
		return err
	}
	r.rep.ReplayNewExposures = int(exp1 - exp0)
	revokes1, notes1, pages1 := r.sideEffects()
	r.rep.ReplaySideEffects = (revokes1 - revokes0) + (notes1 - notes0) + (pages1 - pages0)
	if r.rep.ReplaySideEffects != 0 {
		r.rep.violate("the replay caused %d new revoke calls, %d notifications, %d pages", revokes1-revokes0, notes1-notes0, pages1-pages0)
	}
	if len(after) != len(before) {
		r.rep.violate("the replay changed the number of incidents from %d to %d", len(before), len(after))
	}
	for id, b := range before {
		a := after[id]
		if a == nil || a.State != b.State || len(a.Steps) != len(b.Steps) || !sameSteps(a, b) {
			r.rep.violate("the replay changed incident %s: %s → %s", id, b.State, stateOf(a))
		}
	}
	return nil
}

func sameSteps(a, b *incident.Incident) bool {
	for i := range a.Steps {
		if a.Steps[i].Key != b.Steps[i].Key || a.Steps[i].State != b.Steps[i].State || a.Steps[i].Attempts != b.Steps[i].Attempts {
			return false
		}
	}
	return true
}

func (r *run) streamCount(ctx context.Context, name string) (uint64, error) {
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// streamMessages returns every message of a stream (subject, headers, data).
func streamMessages(ctx context.Context, js jetstream.JetStream, name string) ([]*jetstream.RawStreamMsg, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted or rolled up
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s seq %d: %w", name, seq, err)
		}
		out = append(out, m)
	}
	return out, nil
}
