// Package verifyonly is the client the verify-only providers share (Groq,
// Perplexity, xAI, Replicate, Hugging Face): providers whose API tells
// whether a leaked key is live — one request authenticated with the key
// itself — but cannot revoke it, so Revoke escalates to a person with the
// console page where the key is deleted.
//
// A provider package describes its check with a Def (base URL, request,
// auth scheme, error shape, which refusals mean a dead key, how a live answer
// names the owner) and embeds the Client that New builds; the request, its
// status classification (the Def's Dead answers, 401 by default, are "not
// live"; 429 with Retry-After and 5xx retryable, other 4xx permanent — see
// providers.StatusError), the escalation and the dry-run plan are the same
// for all of them.
package verifyonly

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/keycheck"
)

// Def is what differs between verify-only providers. T is the JSON body of
// a live answer (struct{} when the provider reads nothing from it).
type Def[T any] struct {
	// Spec names the provider (Name, DisplayName, SecretTypes, ConsoleURL,
	// DocsURL). New sets Verify, clears Revoke (the provider escalates) and
	// sets Owner when the Def has an Owner function.
	Spec providers.Spec
	// DefaultBaseURL is the provider's API, used when New's baseURL is empty.
	DefaultBaseURL string
	// Method and Path are the check's request; Body, when set, returns its
	// JSON body.
	Method, Path string
	Body         func() any
	// AuthScheme is the scheme of the Authorization header that carries the
	// key ("Bearer" when empty): "Authorization: <AuthScheme> <key>".
	AuthScheme string
	// ErrorMessage reads the provider's error body shape.
	ErrorMessage func(status int, body []byte) string
	// Dead reports whether a non-2xx answer means the key is not accepted;
	// nil means 401 and only 401.
	Dead func(status int, body []byte) bool
	// Manual is the action the escalation asks a person to take.
	Manual string
	// Refused is the Verify detail of a key the provider does not accept.
	Refused string
	// Accepted turns a 2xx answer into Verify's result (a key can
	// authenticate and still not be live: disabled, blocked).
	Accepted func(T) providers.VerifyResult
	// Owner, when set, names the owner from a 2xx answer (see Owner); Gone
	// is the message of Owner's permanent error for a key that no longer
	// authenticates.
	Owner func(T) providers.Owner
	Gone  string
}

// Client implements providers.Provider for one Def. A provider package
// embeds it through an unexported alias (type base = verifyonly.Client[T];
// type Client struct{ *base }), so that the embedded field stays unexported.
// Its method set is exactly providers.Provider's: the embedding type
// implements providers.OwnerLookup only when it declares Owner itself (with
// the Owner function of this package), and the operations a provider needs
// beyond the interface (Lookup, Owner) are functions, not promoted methods.
type Client[T any] struct {
	def   Def[T]
	api   providers.API
	check keycheck.Check
}

// New returns a Client for d against baseURL (d.DefaultBaseURL when empty)
// with hc (http.DefaultClient when nil).
func New[T any](d Def[T], baseURL string, hc *http.Client) *Client[T] {
	base := strings.TrimRight(baseURL, "/")
	if base == "" {
		base = d.DefaultBaseURL
	}
	scheme := d.AuthScheme
	if scheme == "" {
		scheme = "Bearer"
	}
	dead := d.Dead
	if dead == nil {
		dead = func(status int, _ []byte) bool { return status == http.StatusUnauthorized }
	}
	d.Spec.Verify, d.Spec.Revoke, d.Spec.Owner = true, false, d.Owner != nil
	c := &Client[T]{def: d, api: providers.API{Provider: d.Spec.Name, BaseURL: base, Client: hc, ErrorMessage: d.ErrorMessage}}
	c.check = keycheck.Check{
		API: &c.api, Method: d.Method, Path: d.Path, Body: d.Body, Dead: dead,
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {scheme + " " + v.Reveal()}} },
	}
	return c
}

// Spec implements providers.Provider.
func (c *Client[T]) Spec() providers.Spec {
	s := c.def.Spec
	s.SecretTypes = slices.Clone(s.SecretTypes)
	return s
}

// Lookup runs the check with v: the decoded 2xx answer, nil (and no error)
// when the provider does not accept the key, or the classified error.
func Lookup[T any](ctx context.Context, c *Client[T], op providers.Op, v secret.Value) (*T, error) {
	res, err := c.check.Do(ctx, op, v)
	if err != nil || !res.Live {
		return nil, err
	}
	var out T
	_ = json.Unmarshal(res.Body, &out) // a live answer whose body does not parse still proves the key
	return &out, nil
}

// Verify implements providers.Provider: the Def's Accepted result for a 2xx
// answer, not live (Refused) for a dead-key answer, else the classified error.
func (c *Client[T]) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	out, err := Lookup(ctx, c, providers.OpVerify, cred.Secret)
	switch {
	case err != nil:
		return providers.VerifyResult{}, err
	case out == nil:
		return providers.VerifyResult{Detail: c.def.Refused}, nil
	}
	return c.def.Accepted(*out), nil
}

// Revoke escalates (keycheck.Escalate): a key that no longer authenticates
// is already revoked, a live one goes to a person with the console URL.
func (c *Client[T]) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return keycheck.Escalate(ctx, c.check, c.Spec(), cred, c.def.Manual)
}

// Plan implements providers.Provider: the check, and for revoke the
// escalation. It performs no I/O.
func (c *Client[T]) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), c.def.Manual)
}

// Owner is providers.OwnerLookup for a Def with an Owner function: the
// owner the live answer names, or a permanent error (Gone) for a key that no
// longer authenticates.
func Owner[T any](ctx context.Context, c *Client[T], cred providers.Credential) (providers.Owner, error) {
	if c.def.Owner == nil {
		return providers.Owner{}, &providers.Error{Provider: c.def.Spec.Name, Op: providers.OpOwner, Class: providers.Permanent,
			Message: c.def.Spec.DisplayName + " does not say who owns a key"}
	}
	out, err := Lookup(ctx, c, providers.OpOwner, cred.Secret)
	switch {
	case err != nil:
		return providers.Owner{}, err
	case out == nil:
		return providers.Owner{}, &providers.Error{Provider: c.def.Spec.Name, Op: providers.OpOwner, Class: providers.Permanent, Message: c.def.Gone}
	}
	return c.def.Owner(*out), nil
}

// ErrorString reads an error body whose message is its top-level "error"
// string: the Hugging Face Hub's {"error"}, xAI's {"code","error"}. Any other
// body reads as the status text.
func ErrorString(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(status)
}
