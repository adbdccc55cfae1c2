// Package anthropic is Firebreak's Anthropic provider: it verifies a leaked
// Claude API key with the key itself, and deactivates it through the Admin
// API with the organization's admin key (escalating to a person when no
// admin key is configured).
//
// HTTP shapes follow the Claude API reference (https://platform.claude.com/docs/en/api):
//
//   - Every request carries "x-api-key" and "anthropic-version: 2023-06-01".
//   - Models → List Models: GET /v1/models, the cheapest call a plain API key
//     can make (no tokens); 200 {"data":[{"type":"model","id",…}],
//     "has_more","first_id","last_id"}.
//   - Admin → API Keys: GET /v1/organizations/api_keys (limit 1..1000,
//     default 20; after_id/before_id cursors; has_more, last_id), each key
//     {"id":"apikey_…","type":"api_key","name","workspace_id","created_at",
//     "created_by":{"id","type"},"partial_key_hint":"sk-ant-api03-R2D...igAA",
//     "status":"active"|"inactive"|"archived"|"expired"}; GET and POST
//     /v1/organizations/api_keys/{api_key_id}, the POST taking
//     {"status":"inactive"} to deactivate a key.
//   - Admin → Users: GET /v1/organizations/users/{user_id} → {"id","email","name","role"}.
//   - Errors: {"type":"error","error":{"type":"authentication_error",
//     "message":"invalid x-api-key"},"request_id":…}; 401 for a key that is
//     invalid or not active, 429 rate_limit_error with retry-after, 529
//     overloaded_error (retryable like any 5xx).
//
// A key is found by listing the organization's keys (all pages) and matching
// each partial_key_hint (the key's first 16 and last 4 characters) against
// the leaked key; the Admin API never returns full keys. Exactly one active
// match is deactivated; a match that is already inactive, archived or expired
// (or none at all) means already revoked; several active matches refuse to
// guess. Admin keys (sk-ant-admin01-) cannot be deactivated through the API:
// they are escalated.
package anthropic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "anthropic"

// DefaultBaseURL is Anthropic's API.
const DefaultBaseURL = "https://api.anthropic.com"

// Version is the anthropic-version header value.
const Version = "2023-06-01"

// Secret types (GitHub secret scanning's slugs).
const (
	TypeAPIKey   = "anthropic_api_key"
	TypeAdminKey = "anthropic_admin_api_key"
)

// ConsoleURL is where a person deactivates keys.
const ConsoleURL = "https://console.anthropic.com/settings/keys"

// Config configures a Client.
type Config struct {
	BaseURL string
	// AdminKey resolves an Admin API key (sk-ant-admin01-…). Without it
	// Revoke escalates and Owner fails.
	AdminKey   secret.Source
	HTTPClient *http.Client
	// PageSize is the list limit (1..1000); 100 when zero.
	PageSize int
}

// Client implements providers.Provider and providers.OwnerLookup.
type Client struct {
	api      providers.API
	adminKey secret.Source
	pageSize int
}

var (
	_ providers.Provider    = (*Client)(nil)
	_ providers.OwnerLookup = (*Client)(nil)
)

// New returns a Client.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	ps := cfg.PageSize
	if ps <= 0 || ps > 1000 {
		ps = 100
	}
	return &Client{
		api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: errorMessage,
			Header: func(h http.Header) { h.Set("anthropic-version", Version) }},
		adminKey: cfg.AdminKey, pageSize: ps,
	}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Anthropic", SecretTypes: []string{TypeAPIKey, TypeAdminKey},
		Verify: true, Revoke: true, Owner: true, RevokeRequires: "admin key", ConsoleURL: ConsoleURL,
		DocsURL: "https://platform.claude.com/docs/en/api/admin/api_keys/update"}
}

type apiError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func errorMessage(status int, body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return http.StatusText(status)
	}
	return e.Error.Message + " [" + e.Error.Type + "]"
}

func keyHeader(v secret.Value) http.Header { return http.Header{"X-Api-Key": {v.Reveal()}} }

func isAdminKey(v secret.Value) bool { return strings.HasPrefix(v.Reveal(), "sk-ant-admin") }

func (c *Client) permanent(op providers.Op, msg string) *providers.Error {
	return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: msg}
}

// Verify implements providers.Provider: GET /v1/models with the key (GET
// /v1/organizations/api_keys?limit=1 for an admin key); 200 live, 401 not
// live.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, c.permanent(providers.OpVerify, "no key to verify")
	}
	path := "/v1/models?limit=1"
	if isAdminKey(cred.Secret) {
		path = "/v1/organizations/api_keys?limit=1"
	}
	status, _, err := c.api.Do(ctx, providers.Request{Op: providers.OpVerify, Method: http.MethodGet, Path: path,
		Header: keyHeader(cred.Secret), Scrub: cred.Secret})
	switch {
	case err == nil:
		return providers.VerifyResult{Live: true, Detail: "the key authenticated"}, nil
	case status == http.StatusUnauthorized:
		return providers.VerifyResult{Detail: "Anthropic does not accept the key (invalid or not active)"}, nil
	}
	return providers.VerifyResult{}, err
}

// APIKey is an Admin API key record.
type APIKey struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	Name           string `json:"name"`
	WorkspaceID    string `json:"workspace_id"`
	PartialKeyHint string `json:"partial_key_hint"`
	Status         string `json:"status"`
	CreatedBy      struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"created_by"`
}

type page struct {
	Data    []APIKey `json:"data"`
	HasMore bool     `json:"has_more"`
	FirstID string   `json:"first_id"`
	LastID  string   `json:"last_id"`
}

// MatchHint reports whether a partial_key_hint ("sk-ant-api03-R2D...igAA")
// names the leaked key: its visible head and tail must both match, and
// together show at least eight characters.
func MatchHint(hint string, key secret.Value) bool {
	raw := key.Reveal()
	head, tail, ok := strings.Cut(hint, "...")
	if !ok {
		head, tail, ok = strings.Cut(hint, "…")
	}
	if !ok {
		return hint != "" && hint == raw
	}
	if len(head)+len(tail) < 8 || len(head)+len(tail) >= len(raw) {
		return false
	}
	return strings.HasPrefix(raw, head) && strings.HasSuffix(raw, tail)
}

func (c *Client) admin(ctx context.Context, op providers.Op) (secret.Value, error) {
	ak, err := c.adminKey.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return secret.Value{}, &providers.Error{Provider: Name, Op: op, Class: class, Message: "cannot resolve the admin key", Err: err}
	}
	if ak.IsZero() {
		return secret.Value{}, c.permanent(op, "the configured admin key is empty")
	}
	return ak, nil
}

func (c *Client) adminDo(ctx context.Context, op providers.Op, ak secret.Value, method, path string, body, out any) (int, error) {
	status, _, err := c.api.Do(ctx, providers.Request{Op: op, Method: method, Path: path, Header: keyHeader(ak), Scrub: ak, Body: body, Out: out})
	return status, err
}

// find returns the organization's keys whose hint matches the leaked key.
func (c *Client) find(ctx context.Context, op providers.Op, ak secret.Value, cred providers.Credential) ([]APIKey, error) {
	if strings.HasPrefix(cred.KeyID, "apikey_") {
		var k APIKey
		status, err := c.adminDo(ctx, op, ak, http.MethodGet, "/v1/organizations/api_keys/"+url.PathEscape(cred.KeyID), nil, &k)
		if status == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !MatchHint(k.PartialKeyHint, cred.Secret) {
			return nil, c.permanent(op, fmt.Sprintf("key %s's hint does not match the leaked key; refusing to act on it", k.ID))
		}
		return []APIKey{k}, nil
	}
	var out []APIKey
	after := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(c.pageSize)}}
		if after != "" {
			q.Set("after_id", after)
		}
		var p page
		if _, err := c.adminDo(ctx, op, ak, http.MethodGet, "/v1/organizations/api_keys?"+q.Encode(), nil, &p); err != nil {
			return nil, err
		}
		for _, k := range p.Data {
			if MatchHint(k.PartialKeyHint, cred.Secret) {
				out = append(out, k)
			}
		}
		if !p.HasMore || len(p.Data) == 0 || p.LastID == "" || p.LastID == after {
			return out, nil
		}
		after = p.LastID
	}
}

func active(ks []APIKey) []APIKey {
	var out []APIKey
	for _, k := range ks {
		if k.Status == "active" {
			out = append(out, k)
		}
	}
	return out
}

// Revoke implements providers.Provider. See the package documentation.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	if cred.Secret.IsZero() {
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, "no key to revoke")
	}
	if isAdminKey(cred.Secret) {
		return providers.Escalation(c.Spec(), cred.KeyID, "an Admin API key can only be deleted by an organization admin in the Console (Settings → Admin keys)"), nil
	}
	if c.adminKey == nil {
		return providers.Escalation(c.Spec(), cred.KeyID,
			"Firebreak has no Anthropic admin key (providers.anthropic.admin_key): deactivate the key in the Console under Settings → API keys"), nil
	}
	ak, err := c.admin(ctx, providers.OpRevoke)
	if err != nil {
		return providers.RevokeResult{}, err
	}
	found, err := c.find(ctx, providers.OpRevoke, ak, cred)
	if err != nil {
		return providers.RevokeResult{}, err
	}
	act := active(found)
	switch {
	case len(act) == 0:
		d := "no key in the organization matches; it was already deleted"
		if len(found) > 0 {
			d = "the matching key " + found[0].ID + " is already " + found[0].Status
		}
		res := providers.RevokeResult{AlreadyRevoked: true, Detail: d}
		if len(found) == 1 {
			res.KeyID = found[0].ID
		}
		return res, nil
	case len(act) > 1:
		ids := make([]string, len(act))
		for i, k := range act {
			ids[i] = k.ID
		}
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, fmt.Sprintf(
			"%d active keys match the leaked key's hint (%s); refusing to guess — deactivate it by hand or set the key id", len(act), strings.Join(ids, ", ")))
	}
	k := act[0]
	var updated APIKey
	status, err := c.adminDo(ctx, providers.OpRevoke, ak, http.MethodPost, "/v1/organizations/api_keys/"+url.PathEscape(k.ID),
		map[string]string{"status": "inactive"}, &updated)
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: k.ID, Detail: "the key was deleted meanwhile"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	return providers.RevokeResult{Action: "deactivated", KeyID: k.ID,
		Detail: fmt.Sprintf("key %s (%q) set to inactive", k.ID, k.Name),
		Facts:  map[string]string{"workspace_id": k.WorkspaceID, "created_by": k.CreatedBy.ID}}, nil
}

// Owner implements providers.OwnerLookup: the user who created the key, with
// their email from the Users API.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	if c.adminKey == nil {
		return providers.Owner{}, c.permanent(providers.OpOwner, "the owner of an Anthropic key needs an admin key")
	}
	ak, err := c.admin(ctx, providers.OpOwner)
	if err != nil {
		return providers.Owner{}, err
	}
	found, err := c.find(ctx, providers.OpOwner, ak, cred)
	if err != nil {
		return providers.Owner{}, err
	}
	if len(found) != 1 {
		return providers.Owner{}, c.permanent(providers.OpOwner, fmt.Sprintf("%d keys match the leaked key's hint", len(found)))
	}
	k := found[0]
	o := providers.Owner{User: k.CreatedBy.ID, Facts: map[string]string{"workspace_id": k.WorkspaceID, "key_id": k.ID}}
	if k.CreatedBy.Type == "user" && k.CreatedBy.ID != "" {
		var u struct {
			Email string `json:"email"`
			Name  string `json:"name"`
		}
		if _, err := c.adminDo(ctx, providers.OpOwner, ak, http.MethodGet, "/v1/organizations/users/"+url.PathEscape(k.CreatedBy.ID), nil, &u); err == nil {
			o.Email = u.Email
			o.Facts["name"] = u.Name
		}
	}
	return o, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	u := c.api.URL
	switch op {
	case providers.OpVerify:
		return []providers.Call{{Method: http.MethodGet, URL: u("/v1/models?limit=1"), Note: "x-api-key: the leaked key " + hint + "; 200 live, 401 not"}}
	case providers.OpRevoke:
		if c.adminKey == nil || isAdminKey(cred.Secret) {
			return []providers.Call{{Note: "escalate: deactivate " + hint + " by hand at " + ConsoleURL}}
		}
		return []providers.Call{
			{Method: http.MethodGet, URL: u(fmt.Sprintf("/v1/organizations/api_keys?limit=%d", c.pageSize)), Note: "with the admin key; every page; match partial_key_hint against " + hint},
			{Method: http.MethodPost, URL: u("/v1/organizations/api_keys/{api_key_id}"), Body: `{"status":"inactive"}`, Note: "the one active match"},
		}
	}
	return nil
}
