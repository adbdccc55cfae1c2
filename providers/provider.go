// Package providers defines what Firebreak needs from a key issuer (verify that a
// leaked key is live, revoke it, create a replacement, tell who owns it), how
// provider failures are classified, and the HTTP helpers every provider client
// shares. Each provider lives in its own sub-package with the same shape:
// New(Config) returns a client that implements Provider (and, where the API
// allows, Creator and OwnerLookup), and an emulator of the provider's real HTTP
// API lives beside it for tests and the demo.
package providers

import (
	"context"
	"fmt"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Credential is the leaked key a provider acts on. Secret is the raw key, held
// only in memory for the duration of a step.
type Credential struct {
	Provider    string       // provider name, e.g. "openai"
	Type        string       // secret type slug, e.g. "openai_api_key"
	Secret      secret.Value // the leaked key itself
	KeyID       string       // the provider's non-secret id of the key, when the format carries one
	Fingerprint string       // keyed fingerprint of Secret
	Hint        string       // redacted hint, e.g. "sk-proj-…x9Qa"
}

// VerifyResult says whether a key is live.
type VerifyResult struct {
	Live   bool
	Detail string            // human-readable, never the secret
	Facts  map[string]string // non-secret facts learnt (account, user, scopes, ...)
}

// RevokeResult says what revocation did.
type RevokeResult struct {
	// Action is what was done: "deleted", "deactivated", "revoked", "escalated".
	Action string
	// AlreadyRevoked is true when the provider no longer knows the key: the
	// desired end state holds and nothing was changed now.
	AlreadyRevoked bool
	KeyID          string // the provider's id of the revoked key, when known
	Detail         string
	Facts          map[string]string
}

// Op names a provider operation in plans, errors and metrics.
type Op string

// Operations.
const (
	OpVerify Op = "verify"
	OpRevoke Op = "revoke"
	OpCreate Op = "create"
	OpOwner  Op = "owner"
)

// Call describes one HTTP request a provider makes or would make, for dry-run
// plans and replay. Body is redacted: it never carries a raw secret.
type Call struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Provider is implemented by every provider client.
//
// Verify and Revoke return *Error (or an error wrapping one) on failure so that
// the caller can classify it; see Classify. Revoke must be idempotent: revoking
// a key the provider no longer knows returns AlreadyRevoked and no error.
type Provider interface {
	// Spec describes the provider: its name, the secret types it handles, and
	// what it can do.
	Spec() Spec
	// Verify reports whether the key is live, using the key itself where the
	// provider's API allows it.
	Verify(ctx context.Context, c Credential) (VerifyResult, error)
	// Revoke revokes the key, or takes the strongest action the provider's API
	// allows.
	Revoke(ctx context.Context, c Credential) (RevokeResult, error)
	// Plan returns the calls op would make for c without making any, for
	// dry-run. It performs no I/O.
	Plan(op Op, c Credential) []Call
}

// Spec describes a provider. Specs drive the capability table in the README,
// playbook validation and dry-run output.
type Spec struct {
	Name        string   // "openai"
	DisplayName string   // "OpenAI"
	SecretTypes []string // secret type slugs handled, e.g. "openai_api_key"
	Verify      bool     // Verify is backed by a real API call
	Revoke      bool     // Revoke is backed by a real API call (not an escalation)
	Rotate      bool     // implements Creator
	Owner       bool     // implements OwnerLookup
	ConsoleURL  string   // where a human revokes a key by hand
	DocsURL     string   // the API reference this client follows
	// RevokeRequires names what Revoke needs besides the key (e.g. "admin key").
	RevokeRequires string
}

// Owner is who a provider says a key belongs to.
type Owner struct {
	User  string
	Email string
	Team  string
	Facts map[string]string
}

// OwnerLookup is implemented by providers whose API says who owns a key.
type OwnerLookup interface {
	Owner(ctx context.Context, c Credential) (Owner, error)
}

// CreateRequest asks a provider for a new key to replace a leaked one.
type CreateRequest struct {
	Old  Credential        // the key being replaced
	Name string            // a name for the new key, when the provider names keys
	With map[string]string // provider-specific parameters from the playbook
}

// Created is a newly created key.
type Created struct {
	Credential Credential // the new key; Secret holds it
	Facts      map[string]string
}

// Creator is implemented by providers that can create keys (for rotation).
type Creator interface {
	Create(ctx context.Context, r CreateRequest) (Created, error)
}

// OptionRevoker is implemented by providers whose revocation takes options
// from the playbook step's `with` (AWS: delete: true deletes the access key
// after deactivating it). Revoke(ctx, c) is RevokeWith(ctx, c, nil).
type OptionRevoker interface {
	RevokeWith(ctx context.Context, c Credential, opts map[string]any) (RevokeResult, error)
}

// ActionEscalated is RevokeResult.Action when a provider's API cannot revoke
// the key (or Firebreak lacks what revoking needs): a person must act, and
// the playbook pages them. It is never reported as a revocation.
const ActionEscalated = "escalated"

// Escalation builds the RevokeResult of a key that must be revoked by hand:
// Detail names the manual action and the provider's console URL, so that the
// page a playbook sends says exactly what to do and where.
func Escalation(spec Spec, keyID, manual string) RevokeResult {
	detail := fmt.Sprintf("%s cannot revoke this key through its API; a person must: %s (console: %s)",
		spec.DisplayName, manual, spec.ConsoleURL)
	return RevokeResult{
		Action: ActionEscalated,
		KeyID:  keyID,
		Detail: detail,
		Facts:  map[string]string{"manual_action": manual, "console_url": spec.ConsoleURL},
	}
}
