package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// The backfill poller lists open secret-scanning alerts of configured
// repositories, organizations and enterprises, and publishes an exposure for
// every alert not seen before — so that alerts whose webhooks were missed
// (Firebreak down, webhook not yet configured, alerts older than the
// deployment) are acted on — and again for an alert it knows as resolved
// that GitHub lists open: one reopened while its `reopened` webhook was
// missed. An exposure names the alert; the responder fetches its secret and
// locations, as for a webhook.
//
// State lives in the KV bucket BucketGitHub: per scope, the cursor of the
// next page (saved after every page, so a restart resumes where the last
// run stopped), and per alert (repository + number), a marker of the
// alert's state as Firebreak last learnt it (AlertMark: open or resolved,
// written by the poller and by the webhook handler). A pass that reaches
// the last page clears its cursor; the next pass starts from the newest
// alert again.
//
// Per listed (open) alert a pass:
//   - with no marker: publishes it (action "created") and marks it open;
//   - with a resolved marker: publishes it again (action "reopened") and
//     marks it open — unless the listing's updated_at is older than the
//     marker's, a page listed before the resolution was recorded;
//   - with an open marker: skips it.
//
// Left out, on purpose: an alert resolved and reopened while both webhooks
// were missed. Its marker still says open, and GitHub lists a reopened alert
// exactly as one never resolved (resolution, resolved_at and resolved_by
// null; no reopen count or history). Only updated_at moves, and GitHub
// documents it as "the time that the alert was last updated": any update,
// not only a reopen. A later updated_at is no honest sign of a reopen.
// Republished as "reopened" (an acting action), it would reopen incidents
// people resolved whenever GitHub updated the alert; under a truthful
// non-acting action it would reopen nothing the responder would not merge
// anyway, only add sightings. The poller does not guess.
//
// Rate limits (docs.github.com, "Rate limits for the REST API") are waited
// out, never retried through: a primary limit (403/429 with
// X-RateLimit-Remaining: 0) until X-RateLimit-Reset, a secondary one for
// Retry-After (at least a minute when GitHub gives no figure), and a page
// that leaves Remaining at 0 waits for the reset before the next call.

// BucketGitHub is the KV bucket of the poller's state.
const BucketGitHub = "firebreak_github"

// EnsureState creates (or opens) the poller's bucket, with the topology's
// replicas and persist mode like the rest of Firebreak's derived state: a
// marker or cursor lost to a crash only makes a pass publish an alert again,
// which the responders merge into its incident.
func EnsureState(ctx context.Context, js jetstream.JetStream, t bus.Topology) (jetstream.KeyValue, error) {
	kv, err := bus.EnsureBucket(ctx, js, BucketGitHub,
		"Firebreak: GitHub alert backfill cursors and alerts already published", 0, t)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketGitHub, err)
	}
	return kv, nil
}

// Scope is a repository ("repo", "owner/name"), organization ("org") or
// enterprise ("enterprise") whose alerts are listed.
type Scope struct {
	Kind string
	Name string
}

func (s Scope) String() string { return s.Kind + ":" + s.Name }

// Cursor is the next page of a listing: a page number or an after cursor.
type Cursor struct {
	Page  int    `json:"page,omitempty"`
	After string `json:"after,omitempty"`
}

// ListedAlert is an alert as a listing names it (no secret).
type ListedAlert struct {
	Repo       string
	Number     int64
	State      string
	SecretType string
	HTMLURL    string
	CreatedAt  time.Time
	UpdatedAt  time.Time // GitHub's updated_at; zero when unknown
}

// Page is one page of a listing.
type Page struct {
	Alerts    []ListedAlert
	Next      Cursor
	Done      bool
	Remaining int       // primary rate limit left after the call (-1 unknown)
	Reset     time.Time // when it resets
}

// RateLimitError is a listing refused by a rate limit; Wait is how long
// GitHub asked to wait.
type RateLimitError struct {
	Wait      time.Duration
	Secondary bool
	Err       error
}

func (e *RateLimitError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	return fmt.Sprintf("GitHub %s rate limit (wait %s): %v", kind, e.Wait.Round(time.Second), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// Lister lists alerts (cmd adapts providers/github.AlertSource, which uses
// go-github's SecretScanning.ListAlertsForRepo/Org/Enterprise).
type Lister interface {
	ListAlerts(ctx context.Context, scope Scope, cur Cursor, perPage int) (Page, error)
}

// Ledger is the poller's state in the KV bucket; the webhook handler marks
// alerts through it too.
type Ledger struct{ KV jetstream.KeyValue }

func hashKey(prefix, s string) string {
	h := sha256.Sum256([]byte(s))
	return prefix + "." + hex.EncodeToString(h[:16])
}

// Alert states a marker records.
const (
	AlertOpen     = "open"
	AlertResolved = "resolved"
)

// AlertMark is the ledger's record of one alert: its state as Firebreak last
// learnt it, GitHub's updated_at for that state when known, and when the
// marker was written. A marker exists only for an alert that was published.
type AlertMark struct {
	Repo      string    `json:"repo"`
	Number    int64     `json:"number"`
	State     string    `json:"state"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	At        time.Time `json:"at"`
}

// parseAlertMark decodes a stored marker. A marker from before states were
// recorded ({"repo","number","at"}), one with a state this version does not
// know and one that does not decode all read as open with updated_at
// unknown: each was written for an alert that was published.
func parseAlertMark(b []byte) AlertMark {
	var m AlertMark
	if err := json.Unmarshal(b, &m); err != nil {
		return AlertMark{State: AlertOpen}
	}
	if m.State != AlertResolved {
		m.State = AlertOpen
	}
	return m
}

func alertKey(repo string, number int64) string {
	return hashKey("alert", fmt.Sprintf("%s#%d", repo, number))
}

// Alert returns the alert's marker; ok is false when there is none (the
// alert was never published).
func (l *Ledger) Alert(ctx context.Context, repo string, number int64) (m AlertMark, ok bool, err error) {
	e, err := l.KV.Get(ctx, alertKey(repo, number))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return AlertMark{}, false, nil
	}
	if err != nil {
		return AlertMark{}, false, fmt.Errorf("%w: read alert marker: %w", bus.ErrUnavailable, err)
	}
	return parseAlertMark(e.Value()), true, nil
}

// MarkAlert records the alert's state (AlertOpen or AlertResolved) with
// GitHub's updated_at (zero when unknown); the last write wins.
func (l *Ledger) MarkAlert(ctx context.Context, repo string, number int64, state string, updatedAt time.Time) error {
	if state != AlertOpen && state != AlertResolved {
		return fmt.Errorf("alert state %q is not %s or %s", state, AlertOpen, AlertResolved)
	}
	b, _ := json.Marshal(AlertMark{Repo: repo, Number: number, State: state, UpdatedAt: updatedAt.UTC(), At: time.Now().UTC()})
	_, err := l.KV.Put(ctx, alertKey(repo, number), b)
	return err
}

// cursorState is a scope's saved position.
type cursorState struct {
	Scope   string    `json:"scope"`
	Next    Cursor    `json:"next"`
	Pages   int       `json:"pages"`
	Updated time.Time `json:"updated"`
}

func (l *Ledger) cursor(ctx context.Context, s Scope) (cursorState, error) {
	e, err := l.KV.Get(ctx, hashKey("cursor", s.String()))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return cursorState{Scope: s.String()}, nil
	}
	if err != nil {
		return cursorState{}, fmt.Errorf("read cursor of %s: %w", s, err)
	}
	var st cursorState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return cursorState{Scope: s.String()}, nil // a garbled cursor restarts the pass
	}
	return st, nil
}

func (l *Ledger) saveCursor(ctx context.Context, s Scope, st cursorState) error {
	st.Updated = time.Now().UTC()
	b, _ := json.Marshal(st)
	_, err := l.KV.Put(ctx, hashKey("cursor", s.String()), b)
	return err
}

func (l *Ledger) clearCursor(ctx context.Context, s Scope) error {
	err := l.KV.Delete(ctx, hashKey("cursor", s.String()))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// PollerConfig configures a Poller.
type PollerConfig struct {
	Scopes []Scope
	// Since skips alerts created before it (zero: all). Listings are newest
	// first, so a pass stops at the first older alert.
	Since   time.Time
	PerPage int // default 100
	// MaxWait is the longest rate-limit wait accepted (default 1h); a longer
	// one ends the pass with an error (the cursor is kept).
	MaxWait time.Duration
	// Interval between passes for Run (default 5m).
	Interval time.Duration
	// AfterPage, when set, runs after each page's cursor is saved; an error
	// stops the pass there (tests use it to stop a backfill mid-way).
	AfterPage func(scope Scope, page int) error
}

// Stats is what a pass did.
type Stats struct {
	Scopes    int           `json:"scopes"`
	Pages     int           `json:"pages"`
	Listed    int           `json:"listed"`
	Published int           `json:"published"`
	Reopened  int           `json:"reopened"` // of Published: known resolved, listed open again
	Skipped   int           `json:"skipped"`  // marked open (or listed before its resolution)
	Older     int           `json:"older"`    // created before Since
	Waits     int           `json:"rate_limit_waits"`
	Waited    time.Duration `json:"rate_limit_waited_ns"`
	Resumed   int           `json:"resumed"` // scopes resumed from a saved cursor
}

// Poller runs backfill passes.
type Poller struct {
	cfg    PollerConfig
	lister Lister
	pub    Publisher
	ledger *Ledger
	log    logrus.FieldLogger
	// Sleep waits (tests may shorten nothing: rate-limit resets are real
	// times); it returns ctx's error when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewPoller returns a poller.
func NewPoller(cfg PollerConfig, lister Lister, pub Publisher, ledger *Ledger, log logrus.FieldLogger) *Poller {
	if cfg.PerPage <= 0 || cfg.PerPage > 100 {
		cfg.PerPage = 100
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	return &Poller{cfg: cfg, lister: lister, pub: pub, ledger: ledger, log: log, Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run runs a pass every Interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	for {
		st, err := p.Backfill(ctx, p.cfg.Scopes, p.cfg.Since)
		if ctx.Err() != nil {
			return
		}
		lg := p.log.WithFields(logrus.Fields{"published": st.Published, "reopened": st.Reopened, "skipped": st.Skipped, "pages": st.Pages})
		if err != nil {
			lg.WithError(err).Warn("GitHub alert poll incomplete; the next pass resumes")
		} else {
			lg.Debug("GitHub alert poll done")
		}
		if p.Sleep(ctx, p.cfg.Interval) != nil {
			return
		}
	}
}

// Backfill runs one pass over scopes (the configured ones when nil).
func (p *Poller) Backfill(ctx context.Context, scopes []Scope, since time.Time) (Stats, error) {
	if scopes == nil {
		scopes = p.cfg.Scopes
	}
	var st Stats
	var errs []error
	for _, s := range scopes {
		st.Scopes++
		if err := p.scope(ctx, s, since, &st); err != nil {
			if ctx.Err() != nil {
				return st, err
			}
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
		}
	}
	return st, errors.Join(errs...)
}

func (p *Poller) scope(ctx context.Context, s Scope, since time.Time, st *Stats) error {
	cs, err := p.ledger.cursor(ctx, s)
	if err != nil {
		return err
	}
	if cs.Next != (Cursor{}) {
		st.Resumed++
		p.log.WithFields(logrus.Fields{"scope": s.String(), "page": cs.Pages + 1}).Info("resuming GitHub alert backfill")
	}
	for {
		page, err := p.lister.ListAlerts(ctx, s, cs.Next, p.cfg.PerPage)
		var rl *RateLimitError
		if errors.As(err, &rl) {
			if err := p.wait(ctx, s, rl.Wait, rl.Secondary, st); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		st.Pages++
		cs.Pages++
		older := false
		for _, a := range page.Alerts {
			st.Listed++
			if !since.IsZero() && !a.CreatedAt.IsZero() && a.CreatedAt.Before(since) {
				st.Older++
				older = true
				continue
			}
			if a.State != "" && a.State != "open" {
				continue
			}
			m, marked, err := p.ledger.Alert(ctx, a.Repo, a.Number)
			if err != nil {
				return err
			}
			action, msgID := republish(a, m, marked)
			if action == "" {
				st.Skipped++
				continue
			}
			if err := p.publish(ctx, s, a, action, msgID); err != nil {
				return err
			}
			st.Published++
			if action == "reopened" {
				st.Reopened++
			}
		}
		if page.Done || older {
			return p.ledger.clearCursor(ctx, s)
		}
		cs.Next = page.Next
		if err := p.ledger.saveCursor(ctx, s, cs); err != nil {
			return err
		}
		if p.cfg.AfterPage != nil {
			if err := p.cfg.AfterPage(s, cs.Pages); err != nil {
				return err
			}
		}
		if page.Remaining == 0 && !page.Reset.IsZero() {
			if d := time.Until(page.Reset); d > 0 {
				if err := p.wait(ctx, s, d, false, st); err != nil {
					return err
				}
			}
		}
	}
}

func (p *Poller) wait(ctx context.Context, s Scope, d time.Duration, secondary bool, st *Stats) error {
	if secondary && d <= 0 {
		d = time.Minute // GitHub: wait at least a minute when no figure is given
	}
	d += 250 * time.Millisecond // X-RateLimit-Reset has one-second granularity
	if d > p.cfg.MaxWait {
		return fmt.Errorf("rate limited for %s, longer than the %s allowed; the next pass resumes", d.Round(time.Second), p.cfg.MaxWait)
	}
	st.Waits++
	st.Waited += d
	p.log.WithFields(logrus.Fields{"scope": s.String(), "wait": d.Round(time.Millisecond).String(), "secondary": secondary}).
		Warn("GitHub rate limit reached; waiting")
	return p.Sleep(ctx, d)
}

// republish decides what to publish for a listed open alert given its
// marker: "created" with the alert's first message id when there is none;
// "reopened" when the marker says resolved and the listing is not older than
// the resolution; "" (nothing) otherwise.
//
// A reopening's message id names the resolved marker it ends (the time it
// was written), so it differs from the first publish's and from every other
// reopening's: JetStream's duplicate window swallows none of them. It is
// stable across a retry: the marker changes only after the publish, so a
// pass that published but could not mark (a crash, a KV error) publishes
// again under the same id, and JetStream drops that within its duplicate
// window.
func republish(a ListedAlert, m AlertMark, marked bool) (action, msgID string) {
	ref := fmt.Sprintf("%s#%d", a.Repo, a.Number)
	switch {
	case !marked:
		return "created", "github-alert:" + ref
	case m.State != AlertResolved:
		return "", ""
	case !a.UpdatedAt.IsZero() && !m.UpdatedAt.IsZero() && a.UpdatedAt.Before(m.UpdatedAt):
		return "", "" // listed before the resolution was recorded
	}
	epoch := m.At
	if epoch.IsZero() {
		epoch = m.UpdatedAt
	}
	return "reopened", fmt.Sprintf("github-alert:%s:reopened:%d", ref, epoch.UnixNano())
}

func (p *Poller) publish(ctx context.Context, s Scope, a ListedAlert, action, msgID string) error {
	now := time.Now().UTC()
	ref := fmt.Sprintf("%s#%d", a.Repo, a.Number)
	e := &exposure.Event{
		ID: exposure.NewID(now), Schema: exposure.Schema,
		Source:      exposure.Source{Kind: source, Ref: ref, URL: a.HTMLURL, DeliveryID: "poll:" + s.String()},
		Secret:      exposure.Secret{Provider: exposure.ProviderForType(a.SecretType), Type: a.SecretType},
		Location:    exposure.Location{Repo: a.Repo, URL: a.HTMLURL},
		Environment: exposure.EnvUnknown, ObservedAt: a.CreatedAt, ReceivedAt: now,
		Correlation: "gh-poll-" + ref,
		Alert:       &exposure.Alert{Repository: a.Repo, Number: a.Number, Action: action},
	}
	if e.ObservedAt.IsZero() {
		e.ObservedAt = now
	}
	if _, err := p.pub.Publish(ctx, e, msgID); err != nil {
		return err
	}
	// Published before marked: a crash in between republishes on the next
	// pass under the same message id (caught by JetStream's duplicate
	// window and the incident's fingerprint), never loses the alert.
	if err := p.ledger.MarkAlert(ctx, a.Repo, a.Number, AlertOpen, a.UpdatedAt); err != nil {
		return fmt.Errorf("%w: mark alert open: %w", bus.ErrUnavailable, err)
	}
	p.log.WithFields(logrus.Fields{"alert": ref, "action": action, "exposure": e.ID, "scope": s.String()}).Info("backfilled alert")
	return nil
}
