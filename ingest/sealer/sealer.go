// Package sealer turns a secret an ingester holds in memory — a detector
// finding in a log line, a ticket or a file, a partner-program token — into a
// firebreak.exposure.v1 event that is safe to put on the bus: the secret is
// fingerprinted under the deployment's fingerprint key, sealed under the
// keyring (AES-256-GCM, with the fingerprint as additional data so the sealed
// blob cannot be moved to another event), and hinted ("sk-proj-…x9Qa"). Only
// those three forms leave this package; the raw secret stays in the caller's
// memory. It also publishes batches of such exposures.
//
// Every ingester that holds secrets (ingest/logsink, the ticket ingesters, the
// partner endpoint) builds its exposures here, so that they are all built the
// same way.
package sealer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Keyring seals and fingerprints (*secret.Keyring and the Vault Transit
// keyring implement it).
type Keyring interface {
	Seal(ctx context.Context, v secret.Value, aad []byte) (string, error)
	Fingerprint(v secret.Value) string
}

// Found is one secret found in text, with the raw value in memory.
type Found struct {
	Secret   secret.Value
	Provider string // "openai"; derived from Type when empty
	Type     string // GitHub secret_type slug, "openai_api_key"
	KeyID    string // the provider's non-secret id, where the format carries one
}

// FromFinding makes a Found from a detector finding and the bytes of its
// secret (which it copies: raw may be reused by the caller).
func FromFinding(f detect.Finding, raw []byte) Found {
	return Found{Secret: secret.FromBytes(raw), Provider: f.Provider, Type: f.Type, KeyID: f.KeyID}
}

// Secret returns the raw secret of a finding in block, as a Value.
func Secret(block []byte, f detect.Finding) secret.Value {
	return secret.FromBytes(block[f.Start:f.End])
}

// Sealer builds exposures. Keyring is required; Now defaults to time.Now.
type Sealer struct {
	Keyring Keyring
	Now     func() time.Time
}

// Fingerprint is the deployment fingerprint of the found secret.
func (s *Sealer) Fingerprint(f Found) string { return s.Keyring.Fingerprint(f.Secret) }

// Exposure returns a validated event for f seen at loc, from src, observed at
// observed (the receipt time when zero, or when it lies in the future). The
// environment is env, or (when env is empty) exposure.Environment's guess from
// the location's labels, branch and path. fingerprint may be passed when the
// caller already computed it (empty: computed here).
func (s *Sealer) Exposure(ctx context.Context, src exposure.Source, f Found, fingerprint string, loc exposure.Location, env string, observed time.Time) (*exposure.Event, error) {
	if f.Secret.IsZero() {
		return nil, errors.New("sealer: empty secret")
	}
	if env == "" {
		env = exposure.Environment(loc.Labels, loc.Branch, loc.Path, "")
	}
	e := &exposure.Event{
		Source:      src,
		Secret:      exposure.Secret{Provider: f.Provider, Type: f.Type, KeyID: f.KeyID},
		Location:    loc,
		Environment: env,
		Count:       1,
	}
	if err := s.seal(ctx, f.Secret, fingerprint, e); err != nil {
		return nil, err
	}
	if !observed.IsZero() && !observed.After(e.ReceivedAt.Add(5*time.Minute)) {
		e.ObservedAt = observed.UTC()
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// Seal fills e's secret fields from v — fingerprint, hint, sealed form (bound
// to the fingerprint) — and the envelope fields an ingester leaves empty (id,
// schema, received_at, observed_at, environment, and provider from the type).
func (s *Sealer) Seal(ctx context.Context, v secret.Value, e *exposure.Event) error {
	return s.seal(ctx, v, "", e)
}

func (s *Sealer) seal(ctx context.Context, v secret.Value, fingerprint string, e *exposure.Event) error {
	if s.Keyring == nil {
		return errors.New("sealer: no keyring")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now().UTC()
	if fingerprint == "" {
		fingerprint = s.Keyring.Fingerprint(v)
	}
	sealed, err := s.Keyring.Seal(ctx, v, []byte(fingerprint))
	if err != nil {
		return fmt.Errorf("seal secret: %w", err)
	}
	e.Secret.Fingerprint, e.Secret.Sealed, e.Secret.Redacted = fingerprint, sealed, secret.Hint(v)
	if e.Secret.Provider == "" {
		e.Secret.Provider = exposure.ProviderForType(e.Secret.Type)
	}
	if e.ID == "" {
		e.ID = exposure.NewID(t)
	}
	e.Schema = exposure.Schema
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = t
	}
	if e.ObservedAt.IsZero() {
		e.ObservedAt = e.ReceivedAt
	}
	if e.Environment == "" {
		e.Environment = exposure.EnvUnknown
	}
	return nil
}

// Publisher is what PublishAll needs (*bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, e *exposure.Event, msgID string) (bus.PublishResult, error)
}

// Item is one exposure to publish with its JetStream message id.
type Item struct {
	Event *exposure.Event
	MsgID string
}

// PublishAll publishes items with up to concurrency publishes in flight and
// returns after every one was acknowledged, or with the first error (the
// caller answers 503 and the sender retries; message ids make the retry
// idempotent).
func PublishAll(ctx context.Context, pub Publisher, items []Item, concurrency int) error {
	if concurrency <= 0 {
		concurrency = 32
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(it Item) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := pub.Publish(ctx, it.Event, it.MsgID); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(it)
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
