// Package app wires Firebreak from its configuration: the bus, the keyring,
// the ingesters, the providers and notifiers, the playbooks and the
// responders, and the HTTP server. Everything is constructed explicitly here;
// no package registers itself.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/owners"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Options are what callers other than `serve` (the demo, tests) adjust.
type Options struct {
	// HTTPClient is used for every provider and notifier call (nil: a client
	// with sane timeouts).
	HTTPClient *http.Client
	// Hooks are passed to the responder (tests).
	Hooks responders.Hooks
	// Getenv resolves env: secret references (nil: os.Getenv).
	Getenv func(string) string
	// RotateHook runs at each phase of a vault.rotate rotation (tests that
	// crash Firebreak between rotation steps).
	RotateHook func(ctx context.Context, p vault.Phase) error
}

// App is a wired Firebreak.
type App struct {
	Cfg      *config.Config
	Log      *logrus.Logger
	Registry *prometheus.Registry
	Server   *server.Server // the embedded nats-server, nil with nats.url
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Bus      *bus.Handles
	Keyring  *secret.Keyring
	// Sealer seals and opens exposures' secrets: the local keyring, or
	// Transit with the local keyring beside it (vault.transit.key).
	Sealer secret.Sealer
	// Vault is the Vault client (nil without vault.address).
	Vault     *vault.Client
	Publisher *bus.Publisher
	Incidents *incident.Store
	Playbooks *playbooks.Set
	Providers *actions.Providers
	Responder *responders.Responder
	Catalog   *playbooks.Catalog

	// AdminTokenFile and WebhookSecretFile are set when they were generated.
	AdminTokenFile    string
	WebhookSecretFile string

	// Log sinks (ingest/logsink): the HTTP sinks, their pipeline, the syslog
	// listener (nil unless ingest.syslog.listen), and the generated ingest
	// token file (when ingest.tokens is not set).
	Sinks           *logsink.Sinks
	LogPipeline     *logsink.Pipeline
	Syslog          *logsink.Syslog
	IngestTokenFile string

	auditJS    jetstream.JetStream // the audit trail's own connection
	handler    http.Handler
	adminToken secret.Source
	// deps are the required providers (and Vault) /readyz probes (ops.go);
	// shuttingDown makes /readyz answer 503 once a graceful stop began.
	deps         []*dependency
	shuttingDown atomic.Bool
	closers      []func()
	runMarker    *runMarker // this run's, with the embedded server (markRunning)
	gh           *ghDepth   // GitHub App, poller, partner, tickets (ghdepth.go)
	oncall       *oncall    // tokens, approvals, replay, audit of control requests (oncall.go)

	// lost carries the first bus connection closed for good while running
	// (see watch); closing marks the closes Close makes itself.
	lost    chan error
	closing atomic.Bool
}

// New builds the application from cfg. It starts the embedded nats-server
// (when configured) and creates the bus topology, but runs no HTTP server
// and no responder until Run.
func New(ctx context.Context, cfg *config.Config, log *logrus.Logger, opts Options) (*App, error) {
	a := &App{Cfg: cfg, Log: log, Registry: prometheus.NewRegistry(), lost: make(chan error, 1)}
	built := false
	defer func() {
		if !built {
			a.Close() // whatever was started before the failure
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	resolvers := secret.Resolvers{Getenv: opts.Getenv}
	if opts.HTTPClient == nil {
		opts.HTTPClient = NewHTTPClient()
	}

	// Keyring: sealing key and fingerprint key, created on first start.
	keyringPath := cfg.Keyring.File
	if keyringPath == "" {
		keyringPath = filepath.Join(cfg.DataDir, "keyring.json")
	}
	kr, created, err := secret.LoadOrCreateKeyring(keyringPath)
	if err != nil {
		return nil, err
	}
	if created {
		log.WithField("path", keyringPath).Warn("created a new keyring (mode 0600); back it up and share it with every instance of this deployment")
	}
	a.Keyring = kr
	a.Sealer = kr

	// Vault: Firebreak's own credentials may be vault: references, read at
	// step time; exposures may be sealed through Transit.
	if a.Vault, err = buildVault(cfg, resolvers, opts.HTTPClient, log); err != nil {
		return nil, err
	}
	if a.Vault != nil {
		resolvers.Vault = a.Vault.ReadRef
		if cfg.Vault.Transit.Key != "" {
			a.Sealer = vault.Keyrings{&vault.Transit{Client: a.Vault, Mount: cfg.Vault.Transit.Mount, Key: cfg.Vault.Transit.Key}, kr}
		}
	}

	// Generated local secrets for the embedded default.
	if cfg.HTTP.AdminToken.IsZero() {
		a.AdminTokenFile = filepath.Join(cfg.DataDir, "admin-token")
		if err := ensureRandomFile(a.AdminTokenFile); err != nil {
			return nil, err
		}
		cfg.HTTP.AdminToken = secret.Ref("file:" + a.AdminTokenFile)
	}
	if cfg.GitHub.WebhookSecret.IsZero() {
		a.WebhookSecretFile = filepath.Join(cfg.DataDir, "github-webhook-secret")
		if err := ensureRandomFile(a.WebhookSecretFile); err != nil {
			return nil, err
		}
		cfg.GitHub.WebhookSecret = secret.Ref("file:" + a.WebhookSecretFile)
	}
	if a.adminToken, err = resolvers.Source(cfg.HTTP.AdminToken); err != nil {
		return nil, fmt.Errorf("http.admin_token: %w", err)
	}

	if err := a.connect(ctx); err != nil {
		return nil, err
	}
	// Separate connections for ingest, incident state and the audit trail:
	// one connection serialises every write through its lock (and, to the
	// embedded server, through a synchronous in-process pipe), which capped
	// throughput far below what the server can take.
	ingestJS, err := a.dial(ctx, "ingest")
	if err != nil {
		return nil, err
	}
	stateJS, err := a.dial(ctx, "state")
	if err != nil {
		return nil, err
	}
	auditJS, err := a.dial(ctx, "audit")
	if err != nil {
		return nil, err
	}
	deliveries, err := ingestJS.KeyValue(ctx, exposure.BucketDeliveries)
	if err != nil {
		return nil, err
	}
	incidents, err := stateJS.KeyValue(ctx, exposure.BucketIncidents)
	if err != nil {
		return nil, err
	}
	a.Publisher = &bus.Publisher{JS: ingestJS, Deliveries: deliveries, Timeout: 10 * time.Second}
	a.registerOps(opts.HTTPClient)
	a.Incidents = &incident.Store{KV: incidents, JS: stateJS}
	a.auditJS = auditJS

	// Providers, notifiers, actions, playbooks.
	a.Providers, err = buildProviders(cfg, resolvers, opts.HTTPClient, log)
	if err != nil {
		return nil, err
	}
	for _, n := range a.Providers.Names() {
		if p, _, _ := a.Providers.Get(n); p != nil {
			if c, ok := p.(interface{ Close() }); ok {
				a.closers = append(a.closers, c.Close) // e.g. GitHub's revocation batcher
			}
		}
	}
	stepActions, err := buildActions(cfg, a.Providers, resolvers, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	instance := "responder-" + randomHex(4)
	va, err := buildVaultActions(cfg, a.Vault, a.Providers, kr.Fingerprint, instance, opts.RotateHook)
	if err != nil {
		return nil, err
	}
	stepActions = append(stepActions, actions.VaultActions(va)...)
	if a.gh, err = buildGHClients(cfg, resolvers, opts.HTTPClient); err != nil {
		return nil, err
	}
	stepActions = append(stepActions, writebackActions(cfg, a.gh)...)
	stepActions = append(stepActions, approvalAction(cfg, stepActions, kr)) // uses: approval (oncall.go)
	a.Catalog = Catalog(stepActions)
	a.Playbooks, err = playbooks.Load(a.Catalog, cfg.BuiltinPlaybooks(), cfg.Playbooks.Dir)
	if err != nil {
		return nil, fmt.Errorf("playbooks:\n%w", err)
	}

	var alerts responders.AlertFetcher
	if a.gh.alerts != nil {
		alerts = alertFetcher{a.gh.alerts}
	}
	if alerts == nil {
		log.Warn("github.token is not set: secret-scanning alerts cannot be fetched, their incidents run in dry-run")
	}
	ownerResolver, err := buildOwners(cfg, a.Providers, resolvers, opts.HTTPClient, log)
	if err != nil {
		return nil, err
	}
	if cfg.RespondersEnabled() {
		var enrich func(context.Context, *exposure.Event, providers.Credential) error
		if cfg.Vault.BlastRadius.OnReceive && va.Finder != nil {
			enrich = enricher(va.Finder)
		}
		a.Responder, err = responders.New(responders.Config{
			Instance:    instance,
			Concurrency: cfg.Responders.Concurrency,
			LeaseTTL:    cfg.NATS.AckWait.D(),
			MaxDeliver:  cfg.NATS.MaxDeliver,
			Grace:       cfg.Responders.Grace.D(),
		}, responders.Deps{
			JS: a.JS, Consumer: a.Bus.Consumer, Incidents: a.Incidents, Audit: &audit.Recorder{JS: a.auditJS},
			Playbooks: a.Playbooks, Actions: stepActions,
			Resolver: &responders.Resolver{Sealer: a.Sealer, Fingerprinter: kr, Alerts: alerts},
			Owners:   ownerResolver,
			Metrics:  responders.NewMetrics(a.Registry), Log: log.WithField("component", "responder"),
			Enrich:    enrich,
			Approvals: &approvals.Store{KV: a.Bus.Approvals, JS: a.JS},
		})
		if err != nil {
			return nil, err
		}
		a.Responder.Hooks = opts.Hooks
	}

	if err := a.buildOncall(cfg, resolvers, stepActions); err != nil {
		return nil, err
	}
	// Approver groups come from the owners file's groups.
	if or, ok := ownerResolver.(*owners.Resolver); ok && or.File != nil {
		a.SetApproverGroups(or.File)
	}

	webhookSecret, err := resolvers.Source(cfg.GitHub.WebhookSecret)
	if err != nil {
		return nil, fmt.Errorf("github.webhook_secret: %w", err)
	}
	ingestMetrics := web.NewMetrics(a.Registry)
	if err := a.buildGHIngest(ctx, a.gh, resolvers, opts.HTTPClient, ingestMetrics); err != nil {
		return nil, err
	}
	gh, err := ghingest.New(ghingest.Config{Secret: webhookSecret, MaxBody: cfg.HTTP.MaxBody, Timeout: cfg.HTTP.IngestTimeout.D(),
		Tickets: a.gh.tickets, Alerts: a.gh.ledger}, a.Publisher,
		log.WithField("component", "ingest"), ingestMetrics)
	if err != nil {
		return nil, err
	}
	if err := a.buildSinks(resolvers, ingestMetrics); err != nil {
		return nil, err
	}
	a.handler = a.routes(gh)
	if a.Server != nil {
		a.markRunning()
	}
	built = true
	return a, nil
}

// dial opens another connection to the bus, for one kind of traffic.
func (a *App) dial(_ context.Context, name string) (jetstream.JetStream, error) {
	cfg := a.Cfg
	var nc *nats.Conn
	var err error
	if a.Server != nil {
		nc, err = bus.ConnectEmbedded(a.Server, "firebreak-"+name)
	} else {
		nc, err = bus.ConnectExternal(bus.External{URL: cfg.NATS.URL, CredsFile: cfg.NATS.CredsFile, NKeyFile: cfg.NATS.NKeyFile,
			CAFile: cfg.NATS.CAFile, CertFile: cfg.NATS.CertFile, KeyFile: cfg.NATS.KeyFile}, "firebreak-"+name, a.Log)
	}
	if err != nil {
		return nil, err
	}
	a.watch(nc)
	a.closers = append(a.closers, nc.Close)
	return jetstream.New(nc)
}

// watch makes a connection closed for good (not by Close) stop Run with an
// error. nats.go reconnects after a disconnection, but closes a connection
// for good after a protocol error the server reports (a subject over the
// server's control line limit, say), and nothing it carries would work again:
// ingest would answer 503 and the responders would stop while the process
// looked alive. Stopping lets the supervisor restart Firebreak; the
// exposures and the incidents' progress are on the bus, so nothing is lost.
func (a *App) watch(nc *nats.Conn) {
	nc.SetClosedHandler(func(c *nats.Conn) {
		if a.closing.Load() {
			return
		}
		err := fmt.Errorf("the NATS connection %q was closed for good", c.Opts.Name)
		if last := c.LastError(); last != nil {
			err = fmt.Errorf("%w: %v", err, last)
		}
		select {
		case a.lost <- err:
		default:
		}
	})
}

// connect starts the embedded server or dials the external one, then ensures
// the topology.
func (a *App) connect(ctx context.Context) error {
	cfg := a.Cfg
	var err error
	if cfg.NATS.URL == "" {
		// Closers run in reverse: the clean stop is recorded after the
		// server has shut down and flushed.
		a.closers = append(a.closers, a.markStopped)
		a.Server, err = bus.StartEmbedded(bus.Embedded{
			StoreDir: filepath.Join(cfg.DataDir, "jetstream"),
			Sync:     cfg.NATS.Embedded.FSync,
			Listen:   cfg.NATS.Embedded.Listen,
			MaxStore: cfg.NATS.Embedded.MaxStore,
		}, a.Log)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, func() { a.Server.Shutdown(); a.Server.WaitForShutdown() })
		a.Conn, err = bus.ConnectEmbedded(a.Server, "firebreak")
	} else {
		a.Conn, err = bus.ConnectExternal(bus.External{URL: cfg.NATS.URL, CredsFile: cfg.NATS.CredsFile, NKeyFile: cfg.NATS.NKeyFile,
			CAFile: cfg.NATS.CAFile, CertFile: cfg.NATS.CertFile, KeyFile: cfg.NATS.KeyFile}, "firebreak", a.Log)
	}
	if err != nil {
		return err
	}
	a.watch(a.Conn)
	a.closers = append(a.closers, a.Conn.Close)
	if a.JS, err = jetstream.New(a.Conn); err != nil {
		return err
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a.Bus, err = bus.Ensure(ectx, a.JS, a.topology())
	if err != nil {
		return fmt.Errorf("JetStream topology: %w", err)
	}
	if a.Server != nil {
		a.checkRunMarker(ectx)
	}
	return nil
}

// topology is the JetStream topology the configuration asks for.
func (a *App) topology() bus.Topology {
	n := a.Cfg.NATS
	return bus.Topology{
		Replicas: n.Replicas, ExposureMaxAge: n.ExposureMaxAge.D(), AuditMaxAge: n.AuditMaxAge.D(),
		DuplicateWindow: n.DuplicateWindow.D(), DeliveryTTL: n.DeliveryTTL.D(), AckWait: n.AckWait.D(),
		MaxDeliver: n.MaxDeliver, MaxAckPending: bus.ParkedExposures, SyncState: n.SyncState,
	}
}

// Catalog builds the playbook catalog from the actions this deployment
// provides; startup and `playbook lint` share it.
func Catalog(acts []step.Action) *playbooks.Catalog {
	specs := make([]playbooks.ActionSpec, len(acts))
	for i, a := range acts {
		specs[i] = a.Spec()
	}
	return playbooks.NewCatalog(KnownProviders, KnownSources, specs...)
}

// KnownProviders are the provider names playbooks may match on.
var KnownProviders = []string{"openai", "anthropic", "github", "aws", "google", "slack", "stripe", "huggingface",
	"groq", "perplexity", "replicate", "xai", "unknown"}

// KnownSources are the source kinds playbooks may match on.
var KnownSources = []string{exposure.SourceGitHub, exposure.SourceGitHubPartner, exposure.SourceLogs, exposure.SourceSplunkHEC,
	exposure.SourceLoki, exposure.SourceSyslog, exposure.SourceJira, exposure.SourceTicket, exposure.SourceScan}

// Handler is the HTTP handler (for tests and the demo).
func (a *App) Handler() http.Handler { return a.handler }

// Run serves HTTP on l (or cfg.HTTP.Listen when l is nil) and runs the
// responders until ctx is done, then shuts down gracefully: the listener
// stops taking requests, in-flight requests finish, responders finish or nak
// their in-flight steps.
func (a *App) Run(ctx context.Context, l net.Listener) error {
	// stop ends the components as ctx would: when ctx is done, and when one
	// of them fails or the bus connection is lost.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if l == nil {
		var err error
		l, err = net.Listen("tcp", a.Cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if a.Vault != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Vault.Run(ctx) // renews the token, logs in again when needed
		}()
	}
	if a.gh != nil && a.gh.poller != nil && a.Cfg.GitHub.Poll.Interval.D() > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); a.gh.poller.Run(ctx) }()
	}
	if a.Responder != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Responder.Run(ctx); err != nil {
				errc <- err
			}
		}()
		wg.Add(1)
		go func() { defer wg.Done(); a.runOncall(ctx) }() // the approval sweeper
	}
	if a.LogPipeline != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.LogPipeline.Run(ctx)
		}()
	}
	if a.Syslog != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Syslog.Serve(ctx); err != nil {
				errc <- fmt.Errorf("syslog: %w", err)
			}
		}()
	}
	a.Log.WithField("addr", l.Addr().String()).Info("serving")
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-a.lost:
		a.Log.WithError(runErr).Error("stopping: the bus connection is gone; restart Firebreak")
	}
	stop()
	// Graceful stop: /readyz answers 503 at once; after http.shutdown_delay
	// (time for a load balancer to notice) the listener closes and in-flight
	// requests finish; the responders (stopped by ctx) finish or hand back
	// their in-flight steps within responders.grace.
	a.shuttingDown.Store(true)
	a.Log.WithField("grace", a.Cfg.Responders.Grace.D().String()).Info("stopping: no new work taken; finishing or handing back what is in flight")
	if d := a.Cfg.HTTP.ShutdownDelay.D(); d > 0 && runErr == nil {
		time.Sleep(d)
	}
	sctx, cancel := context.WithTimeout(context.Background(), max(a.Cfg.Responders.Grace.D(), a.Cfg.HTTP.IngestTimeout.D()+time.Second))
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	a.Log.Info("stopped")
	return runErr
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() {
	a.closing.Store(true)
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// ensureRandomFile creates path with 32 random bytes as hex, mode 0600, if it
// does not exist.
func ensureRandomFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func trimURL(s string) string { return strings.TrimRight(s, "/") }

// NewHTTPClient is the client for provider and notifier calls: bounded
// overall, with a connection pool sized for many concurrent incidents against
// one provider host (the default keeps two idle connections per host, which
// makes a revocation storm open a new TLS connection per call).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Timeout: 2 * time.Minute, Transport: t}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
