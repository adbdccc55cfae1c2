package app

// Operating Firebreak: readiness (JetStream and the required providers), the
// metrics read at scrape time (the durable consumer, the streams, readiness),
// and the shutdown state.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// Probe cache lifetimes: a reachable dependency is probed again after
// probeOK, an unreachable one after probeFail (so recovery shows quickly).
const (
	probeOK      = 30 * time.Second
	probeFail    = 5 * time.Second
	probeTimeout = 3 * time.Second
)

// dependency is something Firebreak needs besides JetStream, probed cheaply
// and the answer cached.
type dependency struct {
	name   string // "provider/openai", "vault"
	target string // what is probed, for the answer (host:port or URL, no credentials)
	check  func(ctx context.Context) error

	mu  sync.Mutex
	at  time.Time
	err error
}

func (d *dependency) state(ctx context.Context, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ttl := probeOK
	if d.err != nil {
		ttl = probeFail
	}
	if !d.at.IsZero() && now.Sub(d.at) < ttl {
		return d.err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	d.err, d.at = d.check(pctx), now
	return d.err
}

// requiredDependencies lists what /readyz probes besides JetStream: every
// provider for which Firebreak has a credential of its own configured (those
// are the ones whose revocations would fail when unreachable; providers that
// act with the leaked key itself need no credential and are not required) and
// Vault when vault.address is set. Providers are probed with a TCP connection
// (and TLS handshake for https) to their API host — no HTTP request, no
// credential sent, no rate limit spent; Vault with GET /v1/sys/health.
func requiredDependencies(cfg *config.Config, hc *http.Client) []*dependency {
	var out []*dependency
	for _, r := range providerRequirements(cfg) {
		if !r.on || r.base == "" {
			continue
		}
		u, err := url.Parse(r.base)
		if err != nil || u.Host == "" {
			continue // config validation reports it
		}
		out = append(out, &dependency{name: "provider/" + r.name, target: hostPort(u), check: dialCheck(u)})
	}
	if addr := cfg.Vault.Address; addr != "" {
		health := strings.TrimRight(addr, "/") + "/v1/sys/health?standbyok=true&perfstandbyok=true"
		out = append(out, &dependency{name: "vault", target: strings.TrimRight(addr, "/"), check: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("unreachable: %w", err)
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK, http.StatusTooManyRequests, 472, 473: // active, standby, DR / performance standby
				return nil
			case http.StatusServiceUnavailable:
				return errors.New("sealed")
			case 501:
				return errors.New("not initialized")
			}
			return fmt.Errorf("sys/health answered HTTP %d", resp.StatusCode)
		}})
	}
	return out
}

// providerRequirement is a provider that may be required: its API base URL,
// and whether this configuration requires it.
type providerRequirement struct {
	name, base string
	on         bool
}

// providerRequirements lists every provider that can be required (a
// credential of Firebreak's own for it), and whether cfg requires it.
func providerRequirements(cfg *config.Config) []providerRequirement {
	p := cfg.Providers
	aws := p.AWS.Endpoint
	if aws == "" {
		aws = "https://iam.amazonaws.com"
	}
	return []providerRequirement{
		{"openai", p.OpenAI.BaseURL, !p.OpenAI.AdminKey.IsZero() && !p.OpenAI.DryRun},
		{"anthropic", p.Anthropic.BaseURL, !p.Anthropic.AdminKey.IsZero() && !p.Anthropic.DryRun},
		{"aws", aws, !p.AWS.AccessKeyID.IsZero() && !p.AWS.DryRun},
		{"google", p.Google.APIKeysURL, !p.Google.AccessToken.IsZero() && !p.Google.DryRun},
		{"stripe", p.Stripe.BaseURL, !p.Stripe.ManagementKey.IsZero() && !p.Stripe.DryRun},
	}
}

// excludable are the names /readyz?exclude= accepts: every check any
// configuration can have (whether or not this one has it), and "providers".
func excludable() []string {
	names := []string{"jetstream", "vault", "providers"}
	for _, r := range providerRequirements(&config.Config{}) {
		names = append(names, "provider/"+r.name)
	}
	return names
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// dialCheck connects to the provider's API host (through the environment's
// HTTPS proxy when one applies) and, for https without a proxy, completes a
// TLS handshake.
func dialCheck(u *url.URL) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		addr := hostPort(u)
		tlsOn := u.Scheme != "http"
		if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && proxy != nil {
			addr, tlsOn = hostPort(proxy), false
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("unreachable: %w", err)
		}
		defer conn.Close()
		if tlsOn {
			tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
		}
		return nil
	}
}

// readiness evaluates every check: JetStream (asked every time: it is local
// and cheap) and the required dependencies (cached). Check names are
// "jetstream", "provider/<name>", "vault" and "shutdown"; exclude skips the
// named checks ("providers" skips every provider).
func (a *App) readiness(ctx context.Context, exclude map[string]bool) (bool, map[string]string) {
	checks := map[string]string{}
	if a.shuttingDown.Load() {
		checks["shutdown"] = "shutting down: not taking new work"
	}
	if !exclude["jetstream"] {
		checks["jetstream"] = "ok"
		if st := a.Conn.Status(); st != nats.CONNECTED {
			checks["jetstream"] = "NATS connection " + strings.ToLower(st.String())
		} else {
			jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := a.JS.AccountInfo(jctx)
			cancel()
			if err != nil {
				checks["jetstream"] = err.Error()
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	now := time.Now()
	for _, d := range a.deps {
		if exclude[d.name] || (exclude["providers"] && strings.HasPrefix(d.name, "provider/")) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := "ok"
			if err := d.state(ctx, now); err != nil {
				msg = d.target + ": " + err.Error()
			}
			mu.Lock()
			checks[d.name] = msg
			mu.Unlock()
		}()
	}
	wg.Wait()
	ready := true
	for _, v := range checks {
		if v != "ok" {
			ready = false
		}
	}
	return ready, checks
}

// ready answers GET /readyz: 200 {"ready":true,"checks":{...}} or 503 with
// the failing checks. ?exclude=providers (or a check name; repeatable) leaves
// checks out, like Kubernetes' /readyz?exclude=…: a load balancer in front of
// ingest may want JetStream only, since a provider outage must not stop
// exposures from being received.
//
// Unlike Kubernetes (which ignores an unknown name with a warning in the
// body), a name that is no check is refused with 400: a misspelt exclude in a
// load balancer's probe would otherwise go unnoticed until a provider outage
// takes every instance out of rotation — the very thing it was meant to
// prevent — while a 400 shows on the first probe. A name that this
// configuration does not check (exclude=vault without vault.address) is
// accepted.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	known := excludable()
	exclude := map[string]bool{}
	for _, v := range r.URL.Query()["exclude"] {
		for _, x := range strings.Split(v, ",") {
			x = strings.TrimSpace(x)
			if x == "" {
				continue
			}
			if !slices.Contains(known, x) {
				msg := fmt.Sprintf("exclude=%s names no readiness check; known: %s", web.Quote(x, "name"), strings.Join(known, ", "))
				if x == "shutdown" {
					msg = "the shutdown check cannot be excluded: a stopping instance is not ready"
				}
				web.Error(w, http.StatusBadRequest, msg)
				return
			}
			exclude[x] = true
		}
	}
	ok, checks := a.readiness(r.Context(), exclude)
	if !ok {
		problems := map[string]string{}
		for k, v := range checks {
			if v != "ok" {
				problems[k] = v
			}
		}
		web.JSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "problems": problems, "checks": checks})
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"ready": true, "checks": checks})
}

// readinessCollector exports readiness at scrape time: firebreak_ready and
// firebreak_dependency_up{dependency}.
type readinessCollector struct{ a *App }

var (
	readyDesc = prometheus.NewDesc("firebreak_ready", "1 when /readyz answers 200: JetStream and every required provider reachable, not shutting down.", nil, nil)
	depDesc   = prometheus.NewDesc("firebreak_dependency_up", "1 when a dependency /readyz checks is reachable (jetstream, provider/<name>, vault).", []string{"dependency"}, nil)
)

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc; ch <- depDesc }

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	ready, checks := c.a.readiness(context.Background(), nil)
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, b2f(ready))
	names := make([]string, 0, len(checks))
	for k := range checks {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "shutdown" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(depDesc, prometheus.GaugeValue, b2f(checks[k] == "ok"), k)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerOps registers the scrape-time collectors: readiness, and the
// durable consumer's and the streams' state read from JetStream.
func (a *App) registerOps(hc *http.Client) {
	a.deps = requiredDependencies(a.Cfg, hc)
	a.Registry.MustRegister(readinessCollector{a})
	a.Registry.MustRegister(&bus.Collector{Consumer: a.Bus.Consumer,
		Streams: []jetstream.Stream{a.Bus.Exposures, a.Bus.Dead, a.Bus.Audit}, Timeout: 2 * time.Second})
}

// countingPublisher counts what it publishes in firebreak_exposures_total
// (for publishers whose callers do not count, such as the alert poller).
type countingPublisher struct {
	*bus.Publisher
	published *prometheus.CounterVec
}

func (p countingPublisher) Publish(ctx context.Context, e *exposure.Event, msgID string) (bus.PublishResult, error) {
	res, err := p.Publisher.Publish(ctx, e, msgID)
	if err == nil && !res.Duplicate {
		p.published.WithLabelValues(e.Source.Kind, e.Secret.Provider, e.Environment).Inc()
	}
	return res, err
}
