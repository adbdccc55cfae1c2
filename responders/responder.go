// Package responders consumes exposures from JetStream and runs playbooks on
// them. For each exposure a responder resolves the secret (in memory), finds or
// creates the incident for its fingerprint under a lease (compare-and-set, so
// two responders never both act), runs the matching playbooks' steps —
// recording each step's start and outcome in the audit stream and the
// incident — and acks only after the outcome is recorded.
//
// Failures follow their class: retryable → nak with a delay (honouring
// Retry-After) and resume at the failed step on redelivery; permanent → the
// incident fails, on_failure steps run, the message is copied to the
// dead-letter subject and terminated; out of deliveries → the same. A step
// interrupted by a crash is resumed with Input.Resumed set, so side-effecting
// actions check the provider before acting again.
package responders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Config tunes a responder.
type Config struct {
	// Instance names this process in leases and audit records; random when empty.
	Instance string
	// Concurrency is how many exposures are handled at once.
	Concurrency int
	// LeaseTTL is how long an incident lease lasts without renewal; it should
	// equal the consumer's AckWait so that a crashed responder's incident is
	// free when its message is redelivered.
	LeaseTTL time.Duration
	// MaxDeliver is how many times one step is attempted, each after a
	// redelivery, before a retryable failure dead-letters the exposure
	// (and how many deliveries may fail to resolve the secret). The
	// consumer itself redelivers without limit (see bus.Topology).
	MaxDeliver int
	// MaxInProcessWait caps how long a step waits in-process before a retry;
	// longer waits (a long Retry-After) nak the message with that delay instead.
	MaxInProcessWait time.Duration
	// Grace is how long Run waits, when stopping, for in-flight steps to finish.
	Grace time.Duration
}

func (c *Config) defaults() {
	if c.Instance == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.Instance = "responder-" + hex.EncodeToString(b)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.MaxInProcessWait <= 0 {
		c.MaxInProcessWait = 30 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
	}
}

// Hooks let tests stop a responder at precise points. A hook that returns an
// error makes the responder abandon the message on the spot — no ack, no nak,
// no further write — as a crash would; JetStream redelivers it after AckWait.
type Hooks struct {
	// BeforeStep runs before a step's start is recorded.
	BeforeStep func(ctx context.Context, incidentID, stepKey string) error
	// AfterAction runs after a step's action returned and before its
	// outcome is recorded: the window in which a crash leaves a side effect
	// done but unrecorded.
	AfterAction func(ctx context.Context, incidentID, stepKey string) error
}

// errAbandoned marks a message abandoned by a hook (a simulated crash).
var errAbandoned = errors.New("abandoned by a test hook")

// Responder runs playbooks on exposures.
type Responder struct {
	cfg       Config
	log       logrus.FieldLogger
	js        jetstream.JetStream
	consumer  jetstream.Consumer
	store     *incident.Store
	audit     *audit.Recorder
	actions   map[string]step.Action
	resolver  *Resolver
	owners    OwnerResolver
	approvals *approvals.Store
	metrics   *Metrics
	enrich    func(ctx context.Context, ev *exposure.Event, cred providers.Credential) error
	playbooks atomic.Pointer[playbooks.Set]
	stopping  atomic.Bool
	sessions  atomic.Uint64
	now       func() time.Time

	// Hooks are for tests.
	Hooks Hooks
}

// Deps are the responder's collaborators, wired explicitly by the caller.
type Deps struct {
	JS        jetstream.JetStream
	Consumer  jetstream.Consumer
	Incidents *incident.Store
	Audit     *audit.Recorder
	Playbooks *playbooks.Set
	Actions   []step.Action
	Resolver  *Resolver
	// Enrich, when set, runs on every exposure after its secret is resolved
	// and before playbooks are matched (the blast-radius search on receipt,
	// so that match.when can test exposure.blast). Its failure is logged and
	// the exposure goes on without enrichment: it never delays a revocation.
	Enrich func(ctx context.Context, ev *exposure.Event, cred providers.Credential) error
	// Owners resolves who owns a key before its playbooks run; nil leaves
	// .Owner empty (Rule "").
	Owners  OwnerResolver
	Metrics *Metrics
	Log     logrus.FieldLogger
	// Approvals stores pending approvals (approval steps); nil fails them.
	Approvals *approvals.Store
}

// OwnerResolver decides who owns an exposed key (responders/owners.Resolver
// implements it). It does not fail: a source that cannot answer is skipped.
type OwnerResolver interface {
	Resolve(ctx context.Context, ev *exposure.Event, cred providers.Credential) playbooks.Owner
}

// New builds a responder.
func New(cfg Config, d Deps) (*Responder, error) {
	cfg.defaults()
	if d.JS == nil || d.Consumer == nil || d.Incidents == nil || d.Audit == nil || d.Playbooks == nil || d.Resolver == nil {
		return nil, errors.New("responders: JS, Consumer, Incidents, Audit, Playbooks and Resolver are required")
	}
	r := &Responder{
		cfg: cfg, log: d.Log, js: d.JS, consumer: d.Consumer, store: d.Incidents, audit: d.Audit,
		actions: map[string]step.Action{}, resolver: d.Resolver, metrics: d.Metrics, now: time.Now, enrich: d.Enrich, owners: d.Owners,
		approvals: d.Approvals,
	}
	if r.log == nil {
		r.log = logrus.New()
	}
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	for _, a := range d.Actions {
		r.actions[a.Spec().Name] = a
	}
	r.playbooks.Store(d.Playbooks)
	return r, nil
}

// SetPlaybooks replaces the playbooks (a reload); exposures in flight finish
// with the set they started with.
func (r *Responder) SetPlaybooks(s *playbooks.Set) { r.playbooks.Store(s) }

// Instance returns the responder's instance name.
func (r *Responder) Instance() string { return r.cfg.Instance }

// Run consumes exposures until ctx is done, then stops taking messages, lets
// in-flight steps finish (up to Grace; unfinished playbooks are naked and
// resume on redelivery) and returns.
func (r *Responder) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	sem := make(chan struct{}, r.cfg.Concurrency)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var wgMu sync.Mutex
	stopped := false
	cc, err := r.consumer.Consume(func(msg jetstream.Msg) {
		// Once stopping, messages still buffered in this process go back at
		// once (nak without delay) so that another instance takes them now
		// rather than after AckWait.
		select {
		case <-stop:
			r.metrics.Handover.Inc()
			_ = msg.Nak()
			return
		default:
		}
		select {
		case sem <- struct{}{}:
		case <-stop:
			r.metrics.Handover.Inc()
			_ = msg.Nak()
			return
		}
		wgMu.Lock() // no wg.Add once Run waits on wg
		if stopped {
			wgMu.Unlock()
			<-sem
			r.metrics.Handover.Inc()
			_ = msg.Nak()
			return
		}
		wg.Add(1)
		wgMu.Unlock()
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.Handle(workCtx, msg)
		}()
	}, jetstream.PullMaxMessages(r.cfg.Concurrency),
		// Short pull requests with frequent heartbeats: when the consumer's
		// leader dies (a JetStream cluster failing over), pending pull
		// requests die with it and the client learns only from missing
		// heartbeats. nats.go's defaults (30s expiry, 15s heartbeat) left
		// every responder idle for up to 30s after a failover.
		jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				r.log.WithError(err).Debug("consume")
			}
		}))
	if err != nil {
		return fmt.Errorf("consume exposures: %w", err)
	}
	<-ctx.Done()
	r.stopping.Store(true)
	close(stop)
	// Drain (not Stop): the messages already pulled into this process are
	// handed to the callback above, which naks them.
	cc.Drain()
	wgMu.Lock()
	stopped = true
	wgMu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(r.cfg.Grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		cancelWork()
		<-done
	}
	select { // the drained buffer is naked quickly; do not wait past the grace
	case <-cc.Closed():
	case <-grace.C:
	case <-time.After(time.Second):
	}
	return nil
}

// Handle processes one exposure message. It is exported for tests and tools
// that drive a responder message by message.
func (r *Responder) Handle(ctx context.Context, msg jetstream.Msg) {
	if r.stopping.Load() {
		r.metrics.Handover.Inc()
		_ = msg.Nak() // not started: another instance takes it now
		return
	}
	meta, err := msg.Metadata()
	if err != nil {
		r.log.WithError(err).Error("message without JetStream metadata")
		_ = msg.Term()
		return
	}
	ev, err := exposure.Decode(msg.Data())
	if err != nil {
		r.log.WithError(err).WithField("stream_seq", meta.Sequence.Stream).Error("undecodable exposure: dead-lettered")
		r.deadLetter(ctx, msg, nil, "", err.Error())
		_ = msg.Term()
		return
	}
	log := r.log.WithFields(logrus.Fields{
		"exposure": ev.ID, "source": ev.Source.Kind, "provider": ev.Secret.Provider, "correlation_id": ev.Correlation,
		"instance": r.cfg.Instance,
	})
	if meta.NumDelivered > 1 {
		r.metrics.Redeliveries.WithLabelValues(ev.Source.Kind, ev.Secret.Provider).Inc()
	}
	cred, err := r.resolver.Resolve(ctx, ev)
	if err != nil {
		class, after := classify(err)
		// Deliveries are also spent by crashes and lease waits, so running
		// out of them is not enough to give up: the secret must also have
		// failed to resolve for as long as MaxDeliver backoffs take.
		if class == classRetryable && (int(meta.NumDelivered) < r.cfg.MaxDeliver || time.Since(meta.Timestamp) < r.resolveBudget()) {
			d := r.deliveryBackoff(meta, after)
			log.WithError(err).WithField("delay", d).Warn("could not resolve the secret; will retry")
			r.metrics.Processed.WithLabelValues(ev.Source.Kind, ev.Secret.Provider, "retry").Inc()
			_ = msg.NakWithDelay(d)
			return
		}
		cause := fmt.Errorf("could not resolve the secret: %w", err)
		if ev.Secret.Fingerprint == "" && ev.Alert != nil {
			// A GitHub alert whose secret could not be fetched (the token
			// lacks the permission, the alert is gone): its incident is
			// keyed by the alert, failed with the reason, and on_failure
			// pages (unresolved.go).
			r.resolver.KeyByAlert(ev)
			s := r.newSession(msg, meta, ev, providers.Credential{}, log)
			s.runUnresolved(ctx, cause)
			return
		}
		log.WithError(err).Error("could not resolve the secret: dead-lettered")
		r.failIncident(ctx, ev, cause.Error())
		r.deadLetter(ctx, msg, ev, incident.IDFor(ev.Secret.Fingerprint), err.Error())
		_ = msg.Term()
		return
	}
	defer cred.Secret.Wipe()
	if r.enrich != nil && !cred.Secret.IsZero() {
		if err := r.enrich(ctx, ev, cred); err != nil {
			log.WithError(err).Warn("enrichment failed; going on without it")
		}
	}
	r.newSession(msg, meta, ev, cred, log).run(ctx)
}

// newSession prepares the handling of one exposure whose fingerprint is set.
func (r *Responder) newSession(msg jetstream.Msg, meta *jetstream.MsgMetadata, ev *exposure.Event, cred providers.Credential,
	log logrus.FieldLogger) *session {
	s := &session{r: r, msg: msg, meta: meta, ev: ev, cred: cred, id: incident.IDFor(ev.Secret.Fingerprint),
		holder: fmt.Sprintf("%s/%d", r.cfg.Instance, r.sessions.Add(1))}
	s.log = log.WithField("incident", s.id)
	return s
}

// resolveBudget is how long an exposure whose secret cannot be resolved
// (a provider or GitHub down) keeps being retried: the sum of MaxDeliver
// backoffs.
func (r *Responder) resolveBudget() time.Duration {
	var d time.Duration
	for n := 1; n <= r.cfg.MaxDeliver; n++ {
		d += r.backoff(uint64(n), 0)
	}
	return d
}

// failIncident marks the exposure's incident failed when one exists and no
// other session holds it, so that an exposure given up on before its
// playbook could run does not leave its incident "running" forever.
func (r *Responder) failIncident(ctx context.Context, ev *exposure.Event, reason string) {
	id := incident.IDFor(ev.Secret.Fingerprint)
	for i := 0; i < 5; i++ {
		inc, rev, err := r.store.Get(ctx, id)
		if err != nil || inc.State.Terminal() || inc.Lease.HeldByOther("", r.now()) {
			return
		}
		inc.State, inc.Error, inc.Lease = incident.Failed, reason, nil
		inc.UpdatedAt = r.now()
		if _, err := r.store.Update(ctx, inc, rev); !errors.Is(err, incident.ErrConflict) {
			return
		}
	}
}

// backoff is the redelivery delay after the n-th failure (of a step, or of
// a delivery that could not start one): 1 s doubling to at most 5 min, or
// retryAfter when longer.
func (r *Responder) backoff(n uint64, retryAfter time.Duration) time.Duration {
	return max(backoffN(n), retryAfter)
}

// deliveryBackoff is the redelivery delay of a message that failed before a
// step could count its attempts (its secret could not be resolved, its
// incident could not be written): the backoff of its deliveries, but no
// more than half its age (at least 1 s) — deliveries spent on crashes, bus
// restarts and lease waits count too, and must not make a first transient
// error wait minutes — or retryAfter when longer. While the failures go on,
// the message ages and the delay grows to the same 5 min at most.
func (r *Responder) deliveryBackoff(meta *jetstream.MsgMetadata, retryAfter time.Duration) time.Duration {
	if meta == nil {
		return max(time.Second, retryAfter)
	}
	d := backoffN(meta.NumDelivered)
	if !meta.Timestamp.IsZero() {
		d = min(d, max(r.now().Sub(meta.Timestamp)/2, time.Second))
	}
	return max(d, retryAfter)
}

// backoffN is 1 s doubling with each failure after the first, at most 5 min.
func backoffN(n uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
