// Package keycheck is the liveness check the key-in-hand providers share: one
// request authenticated with the leaked key itself, whose answer says whether
// the key is live, dead, or the call failed (classified). Providers whose API
// cannot revoke a key use Escalate to turn a live check into an escalation.
package keycheck

import (
	"context"
	"net/http"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Check describes the provider's liveness request.
type Check struct {
	API    *providers.API
	Method string
	Path   string
	// Auth returns the headers that carry the key (Authorization, x-api-key, ...).
	Auth func(v secret.Value) http.Header
	// Body, when set, returns the JSON request body.
	Body func() any
	// Dead reports whether a non-2xx answer means the key is not accepted
	// (revoked, deleted, never issued). Other non-2xx answers are errors.
	Dead func(status int, body []byte) bool
	// Restricted, when set, reports whether a non-2xx answer means the key
	// authenticated but may not make this call (it is live).
	Restricted func(status int, body []byte) bool
}

// Result is one check's answer.
type Result struct {
	Live       bool
	Restricted bool
	Body       []byte // the 2xx body, for facts
	Header     http.Header
}

// Do runs the check with v.
func (c Check) Do(ctx context.Context, op providers.Op, v secret.Value) (Result, error) {
	if v.IsZero() {
		return Result{}, &providers.Error{Provider: c.API.Provider, Op: op, Class: providers.Permanent, Message: "no key to check"}
	}
	req := providers.Request{Op: op, Method: c.Method, Path: c.Path, Header: c.Auth(v), Scrub: v}
	if c.Body != nil {
		req.Body = c.Body()
	}
	var hdr http.Header
	req.ResponseHeader = &hdr
	status, body, err := c.API.Do(ctx, req)
	switch {
	case err == nil:
		return Result{Live: true, Body: body, Header: hdr}, nil
	case status == 0:
		return Result{}, err
	case c.Dead != nil && c.Dead(status, body):
		return Result{Live: false, Header: hdr}, nil
	case c.Restricted != nil && c.Restricted(status, body):
		return Result{Live: true, Restricted: true, Header: hdr}, nil
	}
	return Result{}, err
}

// Escalate is Revoke for a provider whose API cannot revoke keys: it checks
// the key first (a key that no longer authenticates was revoked by someone:
// AlreadyRevoked), and escalates a live one with the manual action.
// A failed check is returned as is (classified), so that the step retries
// rather than pages about a key that may already be dead.
func Escalate(ctx context.Context, c Check, spec providers.Spec, cred providers.Credential, manual string) (providers.RevokeResult, error) {
	res, err := c.Do(ctx, providers.OpRevoke, cred.Secret)
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if !res.Live {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: cred.KeyID,
			Detail: spec.DisplayName + " no longer accepts the key: it was already revoked"}, nil
	}
	return providers.Escalation(spec, cred.KeyID, manual), nil
}

// Plan is the dry-run plan of the check (and, for op revoke, the escalation).
func (c Check) Plan(op providers.Op, cred providers.Credential, spec providers.Spec, manual string) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	call := providers.Call{Method: c.Method, URL: c.API.URL(c.Path), Note: "authenticated with the leaked key " + hint}
	switch op {
	case providers.OpVerify:
		return []providers.Call{call}
	case providers.OpRevoke:
		call.Note += "; a dead key is already revoked"
		return []providers.Call{call, {Note: "no revocation API: escalate to a person — " + manual + " (" + spec.ConsoleURL + ")"}}
	}
	return nil
}
