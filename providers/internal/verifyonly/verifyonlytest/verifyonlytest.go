// Package verifyonlytest runs providertest's conformance suite for a
// verify-only provider (see verifyonly) against its emulator: Verify of a
// live and of an unknown key, a 401 as a dead key, 429 with Retry-After and
// 5xx retryable, other 4xx permanent, Revoke escalating (naming the console
// URL, changing nothing) or reporting a dead key already revoked,
// cancellation, dry-run plans, secrets kept out of errors and logs, and an
// emulator that refuses the check without the provider's real
// authentication.
package verifyonlytest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// Emulator is what the suite needs of a verify-only provider's emulator.
type Emulator interface {
	Start() string
	Close()
	Live(raw string) bool
}

// Case describes one verify-only provider and its emulator.
type Case[E Emulator] struct {
	// Provider and SecretType label the credentials the suite builds.
	Provider, SecretType string
	// Check is the key check's request ("GET /openai/v1/models"): the suite
	// injects faults into it and sends it, without the provider's real
	// authentication, as the auth probes.
	Check string
	// Refused is the status the emulator answers a probe with (401; xAI
	// answers 400).
	Refused int
	// Emulator returns an unstarted emulator and Server its emulator.Server.
	Emulator func() E
	Server   func(E) *emulator.Server
	// Client returns the provider's client against base.
	Client func(base string) providers.Provider
	// AddKey registers a live key at e; NewKey returns a well-formed key the
	// emulator never issued.
	AddKey func(e E) string
	NewKey func() string
}

// Cred returns the credential of the raw key.
func (c Case[E]) Cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: c.Provider, Type: c.SecretType, Secret: v, Hint: secret.Hint(v)}
}

// Run runs providertest.Run for c.
func Run[E Emulator](t *testing.T, c Case[E]) {
	t.Helper()
	method, path, _ := strings.Cut(c.Check, " ")
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := c.Emulator()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: c.Client(base),
				Server:   c.Server(emu),
				Live:     func(t *testing.T) providers.Credential { return c.Cred(c.AddKey(emu)) },
				Unknown:  func(t *testing.T) providers.Credential { return c.Cred(c.NewKey()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: c.Check, RevokeMatch: c.Check,
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: method, Path: path, WantStatus: c.Refused},
				{Method: method, Path: path, Header: http.Header{"Authorization": {raw}}, WantStatus: c.Refused},
				{Method: method, Path: path, Header: http.Header{"X-Api-Key": {raw}}, WantStatus: c.Refused},
			}
		},
	})
}
