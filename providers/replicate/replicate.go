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

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
)

// Name is the provider name.
const Name = "replicate"

// DefaultBaseURL is Replicate's API.
const DefaultBaseURL = "https://api.replicate.com"

// TypeAPIToken is the secret type.
const TypeAPIToken = "replicate_api_token"

// ConsoleURL is where a person disables a token.
const ConsoleURL = "https://replicate.com/account/api-tokens"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider and providers.OwnerLookup: Verify
// reads the token's account (200 live, facts: account and its type; 401 not
// live); Revoke escalates, Replicate has no token revocation API.
type Client struct{ *base }

type base = verifyonly.Client[account] // embedded through an alias: the field stays unexported

var (
	_ providers.Provider    = (*Client)(nil)
	_ providers.OwnerLookup = (*Client)(nil)
)

// account is GET /v1/account's answer.
type account struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{verifyonly.New(verifyonly.Def[account]{
		Spec: providers.Spec{Name: Name, DisplayName: "Replicate", SecretTypes: []string{TypeAPIToken},
			ConsoleURL: ConsoleURL, DocsURL: "https://replicate.com/docs/reference/http#account.get"},
		DefaultBaseURL: DefaultBaseURL, Method: http.MethodGet, Path: "/v1/account", AuthScheme: "Bearer",
		ErrorMessage: errorMessage,
		Manual:       "disable the token under Account → API tokens, signed in to the account that owns it",
		Refused:      "Replicate does not accept the token",
		Accepted: func(a account) providers.VerifyResult {
			return providers.VerifyResult{Live: true, Detail: "the token authenticated as " + a.Username,
				Facts: map[string]string{"account": a.Username, "account_type": a.Type}}
		},
		Owner: func(a account) providers.Owner {
			o := providers.Owner{User: a.Username, Facts: map[string]string{"name": a.Name}}
			if a.Type == "organization" {
				o.Team = a.Username
			}
			return o
		},
		Gone: "the token no longer authenticates",
	}, cfg.BaseURL, cfg.HTTPClient)}
}

// errorMessage reads Replicate's problem document {"title","detail","status"}.
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

// Owner implements providers.OwnerLookup: the token's account (an
// organization's is also its team).
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	return verifyonly.Owner(ctx, c.base, cred)
}
