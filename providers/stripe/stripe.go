// Package stripe is Firebreak's Stripe provider: it verifies a leaked secret
// or restricted key with the key itself, and expires it through the API v2
// API keys endpoints where the account has them, escalating to a person
// otherwise.
//
// HTTP shapes follow Stripe's API reference (https://docs.stripe.com/api):
//
//   - v1 (form-encoded, "Authorization: Bearer sk_…" — Basic auth with the
//     key as user name is equivalent): GET /v1/charges?limit=1 answers 200 for
//     a live secret key and 403 for a live restricted key without the charges
//     read permission ("does not have the required permissions"): both mean
//     live. 401 ("Invalid API Key provided", "Expired API Key provided")
//     means not live. Errors: {"error":{"type","code","message","doc_url"}}.
//   - v2 IAM API keys (JSON, "Stripe-Version" header required): GET
//     /v2/iam/api_keys (limit, include_expired; {"data":[…],
//     "next_page_url"}), each key {"id","object":"v2.iam.api_key","type",
//     "status":"active"|"expired","secret_key":{"secret_token_redacted"}};
//     POST /v2/iam/api_keys/{id}/expire expires a key now.
//
// Revoke lists the account's keys with the configured management key (a
// secret or restricted key with API keys write access) — or, without one,
// with the leaked key itself, since a full secret key may manage the
// account's keys — matches secret_token_redacted against the leaked key and
// expires the one active match. A v2 answer of 404 (the account has no v2 API
// keys), or 403 to the leaked key itself (a restricted key that may not
// manage keys), escalates; a 403 to the configured management key is a
// permanent configuration error; a key not in the list is checked: dead means
// already revoked, live escalates.
package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "stripe"

// DefaultBaseURL is Stripe's API.
const DefaultBaseURL = "https://api.stripe.com"

// DefaultAPIVersion is the Stripe-Version sent to the v2 API.
const DefaultAPIVersion = "2025-09-30.preview"

// Secret types (GitHub secret scanning's slugs).
const (
	TypeSecretKey     = "stripe_api_key"
	TypeRestrictedKey = "stripe_live_restricted_key"
	TypeTestKey       = "stripe_test_secret_key"
)

// ConsoleURL is where a person rolls or expires keys.
const ConsoleURL = "https://dashboard.stripe.com/apikeys"

// Config configures a Client.
type Config struct {
	BaseURL string
	// ManagementKey resolves a key allowed to manage API keys (v2). When
	// nil, the leaked key itself is used.
	ManagementKey secret.Source
	// APIVersion is sent as Stripe-Version on v2 calls.
	APIVersion string
	HTTPClient *http.Client
}

// Client implements providers.Provider.
type Client struct {
	api     providers.API
	mgmt    secret.Source
	version string
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	v := cfg.APIVersion
	if v == "" {
		v = DefaultAPIVersion
	}
	return &Client{api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: errorMessage}, mgmt: cfg.ManagementKey, version: v}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Stripe", SecretTypes: []string{TypeSecretKey, TypeRestrictedKey, TypeTestKey},
		Verify: true, Revoke: true, RevokeRequires: "v2 API keys on the account", ConsoleURL: ConsoleURL,
		DocsURL: "https://docs.stripe.com/api/v2/iam/api-keys"}
}

func errorMessage(status int, body []byte) string {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return http.StatusText(status)
	}
	return e.Error.Message + " [" + e.Error.Type + "]"
}

func bearer(v secret.Value) http.Header {
	return http.Header{"Authorization": {"Bearer " + v.Reveal()}}
}

// Verify implements providers.Provider.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, &providers.Error{Provider: Name, Op: providers.OpVerify, Class: providers.Permanent, Message: "no key to verify"}
	}
	return c.verify(ctx, providers.OpVerify, cred.Secret)
}

func (c *Client) verify(ctx context.Context, op providers.Op, v secret.Value) (providers.VerifyResult, error) {
	status, body, err := c.api.Do(ctx, providers.Request{Op: op, Method: http.MethodGet, Path: "/v1/charges?limit=1", Header: bearer(v), Scrub: v})
	switch {
	case err == nil:
		return providers.VerifyResult{Live: true, Detail: "the key listed charges"}, nil
	case status == http.StatusUnauthorized:
		return providers.VerifyResult{Detail: "Stripe refuses the key: " + providers.ScrubMessage(errorMessage(status, body), v)}, nil
	case status == http.StatusForbidden && strings.Contains(errorMessage(status, body), "does not have the required permissions"):
		return providers.VerifyResult{Live: true, Detail: "a restricted key: live, without permission to list charges",
			Facts: map[string]string{"restricted": "true"}}, nil
	}
	return providers.VerifyResult{}, err
}

// apiKey is a v2 API key record.
type apiKey struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Name      string `json:"name"`
	SecretKey *struct {
		Redacted string `json:"secret_token_redacted"`
	} `json:"secret_key"`
}

// MatchRedacted reports whether a redacted token ("sk_live_...abcd",
// "sk_live_****abcd") names the key: same visible head and tail, at least
// eight characters shown.
func MatchRedacted(red string, v secret.Value) bool {
	raw := v.Reveal()
	i := strings.IndexAny(red, ".*…")
	if i < 0 {
		return red != "" && red == raw
	}
	head := red[:i]
	tail := strings.TrimLeft(red[i:], ".*…")
	if len(head)+len(tail) < 8 || len(head)+len(tail) >= len(raw) {
		return false
	}
	return strings.HasPrefix(raw, head) && strings.HasSuffix(raw, tail)
}

func (c *Client) v2(ctx context.Context, mk secret.Value, method, path string, out any) (int, error) {
	h := bearer(mk)
	h.Set("Stripe-Version", c.version)
	var body any
	if method == http.MethodPost {
		body = map[string]any{}
	}
	status, _, err := c.api.Do(ctx, providers.Request{Op: providers.OpRevoke, Method: method, Path: path, Header: h, Scrub: mk, Body: body, Out: out})
	return status, err
}

// Revoke implements providers.Provider. See the package documentation.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	if cred.Secret.IsZero() {
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Permanent, Message: "no key to revoke"}
	}
	mk := cred.Secret
	if c.mgmt != nil {
		v, err := c.mgmt.Secret(ctx)
		if err != nil {
			class, _ := providers.Classify(err)
			return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: class, Message: "cannot resolve the management key", Err: err}
		}
		mk = v
	}
	escalate := func(why string) providers.RevokeResult {
		return providers.Escalation(c.Spec(), cred.KeyID, why+": roll or expire the key in the Dashboard under Developers → API keys")
	}
	path := "/v2/iam/api_keys?limit=20&include_expired=true"
	var match []apiKey
	for path != "" {
		var page struct {
			Data        []apiKey `json:"data"`
			NextPageURL *string  `json:"next_page_url"`
		}
		status, err := c.v2(ctx, mk, http.MethodGet, path, &page)
		switch {
		case status == http.StatusUnauthorized && c.mgmt == nil:
			return providers.RevokeResult{AlreadyRevoked: true, Detail: "Stripe no longer accepts the key"}, nil
		case status == http.StatusNotFound || (status == http.StatusForbidden && c.mgmt == nil):
			return escalate(fmt.Sprintf("the account's v2 API keys endpoints are not available to Firebreak (HTTP %d)", status)), nil
		case err != nil:
			return providers.RevokeResult{}, err
		}
		for _, k := range page.Data {
			if k.SecretKey != nil && MatchRedacted(k.SecretKey.Redacted, cred.Secret) {
				match = append(match, k)
			}
		}
		path = ""
		if page.NextPageURL != nil && *page.NextPageURL != "" {
			if u, err := url.Parse(*page.NextPageURL); err == nil {
				path = u.RequestURI()
			}
		}
	}
	var active []apiKey
	for _, k := range match {
		if k.Status == "active" {
			active = append(active, k)
		}
	}
	switch {
	case len(active) > 1:
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Permanent,
			Message: fmt.Sprintf("%d active keys match the leaked key's redacted form; refusing to guess", len(active))}
	case len(active) == 0 && len(match) > 0:
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: match[0].ID, Detail: "the key " + match[0].ID + " is already " + match[0].Status}, nil
	case len(active) == 0:
		v, err := c.verify(ctx, providers.OpRevoke, cred.Secret)
		if err != nil {
			return providers.RevokeResult{}, err
		}
		if !v.Live {
			return providers.RevokeResult{AlreadyRevoked: true, Detail: "the key is not in the account's key list and Stripe refuses it"}, nil
		}
		return escalate("the live key is not in the account's v2 key list"), nil
	}
	k := active[0]
	var out apiKey
	status, err := c.v2(ctx, mk, http.MethodPost, "/v2/iam/api_keys/"+url.PathEscape(k.ID)+"/expire", &out)
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: k.ID, Detail: "the key was removed meanwhile"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	return providers.RevokeResult{Action: "expired", KeyID: k.ID, Detail: "key " + k.ID + " expired through the v2 API",
		Facts: map[string]string{"key_type": k.Type}}, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	switch op {
	case providers.OpVerify:
		return []providers.Call{{Method: http.MethodGet, URL: c.api.URL("/v1/charges?limit=1"), Note: "with the leaked key " + hint + "; 200/403 live, 401 not"}}
	case providers.OpRevoke:
		return []providers.Call{
			{Method: http.MethodGet, URL: c.api.URL("/v2/iam/api_keys?limit=20&include_expired=true"), Note: "every page; match secret_token_redacted against " + hint},
			{Method: http.MethodPost, URL: c.api.URL("/v2/iam/api_keys/{id}/expire"), Note: "the one active match; 404/403 on the list escalates"},
		}
	}
	return nil
}
