// Package sealer turns a secret an ingester holds in memory (a detector
// finding in a ticket, a partner-program token) into an exposure event that
// carries only the secret's keyed fingerprint, a redacted hint and the secret
// sealed under the deployment's keyring — and publishes batches of them.
//
// It is deliberately small; the log-sink ingesters need the same step (see
// the lead's note on reconciling the two).
package sealer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Keyring seals and fingerprints (*secret.Keyring implements it).
type Keyring interface {
	Seal(ctx context.Context, v secret.Value, aad []byte) (string, error)
	Fingerprint(v secret.Value) string
}

// Sealer builds sealed exposures.
type Sealer struct {
	Keyring Keyring
	Now     func() time.Time // time.Now when nil
}

// Secret returns the raw secret of a finding in block, as a Value.
func Secret(block []byte, f detect.Finding) secret.Value {
	return secret.FromBytes(block[f.Start:f.End])
}

// Seal fills e's secret fields from v — fingerprint, hint, sealed form (bound
// to the fingerprint) — and the envelope fields an ingester leaves empty (id,
// schema, received_at, observed_at, environment, and provider from the type).
func (s *Sealer) Seal(ctx context.Context, v secret.Value, e *exposure.Event) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now().UTC()
	fp := s.Keyring.Fingerprint(v)
	sealed, err := s.Keyring.Seal(ctx, v, []byte(fp))
	if err != nil {
		return fmt.Errorf("seal secret: %w", err)
	}
	e.Secret.Fingerprint, e.Secret.Sealed, e.Secret.Redacted = fp, sealed, secret.Hint(v)
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
