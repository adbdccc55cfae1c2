// Package sealer turns a secret found in free text (a log line, a ticket, a
// file) into a firebreak.exposure.v1 event that is safe to put on the bus: the
// secret is fingerprinted under the deployment's fingerprint key, sealed under
// the keyring (AES-256-GCM, with the fingerprint as additional data so the
// sealed blob cannot be moved to another event), and hinted ("sk-proj-…x9Qa").
// Only those three forms leave this package; the raw secret stays in the
// caller's memory.
//
// The log sinks (ingest/logsink) and any other ingester that runs the
// detectors over text share it, so that every exposure of a found secret is
// built the same way.
package sealer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Keyring seals and fingerprints (*secret.Keyring implements it).
type Keyring interface {
	secret.Sealer
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

// Sealer builds exposures. Keyring is required; Now defaults to time.Now.
type Sealer struct {
	Keyring Keyring
	Now     func() time.Time
}

// Fingerprint is the deployment fingerprint of the found secret.
func (s *Sealer) Fingerprint(f Found) string { return s.Keyring.Fingerprint(f.Secret) }

// Exposure returns a validated event for f seen at loc, from src, observed at
// observed (the receipt time when zero). The environment is env, or (when env
// is empty) exposure.Environment's guess from the location's labels, branch
// and path. fingerprint may be passed when the caller already computed it
// (empty: computed here).
func (s *Sealer) Exposure(ctx context.Context, src exposure.Source, f Found, fingerprint string, loc exposure.Location, env string, observed time.Time) (*exposure.Event, error) {
	if s.Keyring == nil {
		return nil, errors.New("sealer: no keyring")
	}
	if f.Secret.IsZero() {
		return nil, errors.New("sealer: empty secret")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	received := now().UTC()
	if fingerprint == "" {
		fingerprint = s.Keyring.Fingerprint(f.Secret)
	}
	sealed, err := s.Keyring.Seal(ctx, f.Secret, []byte(fingerprint))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	provider := f.Provider
	if provider == "" {
		provider = exposure.ProviderForType(f.Type)
	}
	if env == "" {
		env = exposure.Environment(loc.Labels, loc.Branch, loc.Path, "")
	}
	if observed.IsZero() || observed.After(received.Add(5*time.Minute)) {
		observed = received
	}
	e := &exposure.Event{
		ID:     exposure.NewID(received),
		Schema: exposure.Schema,
		Source: src,
		Secret: exposure.Secret{Provider: provider, Type: f.Type, Fingerprint: fingerprint,
			Redacted: secret.Hint(f.Secret), Sealed: sealed, KeyID: f.KeyID},
		Location:    loc,
		Environment: env,
		ObservedAt:  observed.UTC(),
		ReceivedAt:  received,
		Count:       1,
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}
