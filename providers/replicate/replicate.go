// Package replicate is Firebreak's Replicate provider: it verifies a leaked
// Replicate API token with the token itself and names its account; Replicate
// has no public API to revoke tokens, so Revoke escalates to a person.
//
// HTTP shapes follow Replicate's HTTP API reference
// (https://replicate.com/docs/reference/http#account.get): GET
// https://api.replicate.com/v1/account with "Authorization: Bearer r8_…"
// answers 200 {"type":"user"|"organization","username","name","github_url"};
// a token Replicate does not accept answers 401 with a problem document
// {"title":"Unauthenticated","detail":"You did not pass a valid
// authentication token","status":401}; rate limits answer 429 with
// Retry-After.
package replicate

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/keycheck"
)

// Name is the provider name.
const Name = "replicate"

// DefaultBaseURL is Replicate's API.
const DefaultBaseURL = "https://api.replicate.com"

// TypeAPIToken is the secret type.
const TypeAPIToken = "replicate_api_token"

// ConsoleURL is where a person disables a token.
const ConsoleURL = "https://replicate.com/account/api-tokens"

const manual = "disable the token under Account → API tokens, signed in to the account that owns it"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider and providers.OwnerLookup.
type Client struct {
	api   providers.API
	check keycheck.Check
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
	c := &Client{api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: errorMessage}}
	c.check = keycheck.Check{
		API: &c.api, Method: http.MethodGet, Path: "/v1/account",
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {"Bearer " + v.Reveal()}} },
		Dead: func(status int, _ []byte) bool { return status == http.StatusUnauthorized },
	}
	return c
}

func errorMessage(status int, body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
		if p.Detail == "" {
			return p.Title
		}
		return strings.TrimSpace(p.Title + ": " + p.Detail)
	}
	return http.StatusText(status)
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Replicate", SecretTypes: []string{TypeAPIToken}, Verify: true, Owner: true,
		ConsoleURL: ConsoleURL, DocsURL: "https://replicate.com/docs/reference/http#account.get"}
}

type account struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

func (c *Client) account(ctx context.Context, op providers.Op, v secret.Value) (*account, error) {
	res, err := c.check.Do(ctx, op, v)
	if err != nil || !res.Live {
		return nil, err
	}
	var a account
	_ = json.Unmarshal(res.Body, &a)
	return &a, nil
}

// Verify implements providers.Provider: 200 live, 401 not live.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	a, err := c.account(ctx, providers.OpVerify, cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if a == nil {
		return providers.VerifyResult{Detail: "Replicate does not accept the token"}, nil
	}
	return providers.VerifyResult{Live: true, Detail: "the token authenticated as " + a.Username,
		Facts: map[string]string{"account": a.Username, "account_type": a.Type}}, nil
}

// Owner implements providers.OwnerLookup.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	a, err := c.account(ctx, providers.OpOwner, cred.Secret)
	if err != nil {
		return providers.Owner{}, err
	}
	if a == nil {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent, Message: "the token no longer authenticates"}
	}
	o := providers.Owner{User: a.Username, Facts: map[string]string{"name": a.Name}}
	if a.Type == "organization" {
		o.Team = a.Username
	}
	return o, nil
}

// Revoke escalates: Replicate has no token revocation API.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return keycheck.Escalate(ctx, c.check, c.Spec(), cred, manual)
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), manual)
}
