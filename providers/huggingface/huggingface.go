// Package huggingface is Firebreak's Hugging Face provider. It verifies a
// leaked user access token with the token itself and names its owner; Hugging
// Face has no public API to revoke a token, so Revoke escalates to a person
// with the settings page where the token is deleted.
//
// HTTP shapes follow the Hub API (https://huggingface.co/docs/hub/api and the
// huggingface_hub client's whoami): GET https://huggingface.co/api/whoami-v2
// with "Authorization: Bearer hf_…" answers 200 with the account
// ({"type":"user","name","fullname","email","orgs":[…],"auth":{"type":
// "access_token","accessToken":{"displayName","role"}}}) and 401
// {"error":"Invalid credentials in Authorization header"} for a token it does
// not accept. Rate limits answer 429 with Retry-After.
package huggingface

import (
	"context"
	"net/http"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
)

// Name is the provider name.
const Name = "huggingface"

// DefaultBaseURL is the Hub.
const DefaultBaseURL = "https://huggingface.co"

// ConsoleURL is where a person deletes a token.
const ConsoleURL = "https://huggingface.co/settings/tokens"

// Secret types (GitHub secret scanning's slugs, and Firebreak's).
const (
	TypeUserToken = "hf_user_access_token"
	TypeOrgToken  = "hf_org_api_token"
	TypeToken     = "huggingface_access_token"
)

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider and providers.OwnerLookup: Verify
// asks whoami with the token (200 live, facts: account, token name and role;
// 401 not live); Revoke escalates, the Hub has no token revocation API.
type Client struct{ *base }

type base = verifyonly.Client[whoami] // embedded through an alias: the field stays unexported

var (
	_ providers.Provider    = (*Client)(nil)
	_ providers.OwnerLookup = (*Client)(nil)
)

// whoami is GET /api/whoami-v2's answer.
type whoami struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Fullname string `json:"fullname"`
	Email    string `json:"email"`
	Orgs     []struct {
		Name string `json:"name"`
	} `json:"orgs"`
	Auth struct {
		Type        string `json:"type"`
		AccessToken struct {
			DisplayName string `json:"displayName"`
			Role        string `json:"role"`
		} `json:"accessToken"`
	} `json:"auth"`
}

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{verifyonly.New(verifyonly.Def[whoami]{
		Spec: providers.Spec{Name: Name, DisplayName: "Hugging Face", SecretTypes: []string{TypeUserToken, TypeOrgToken, TypeToken},
			ConsoleURL: ConsoleURL, DocsURL: "https://huggingface.co/docs/hub/security-tokens"},
		DefaultBaseURL: DefaultBaseURL, Method: http.MethodGet, Path: "/api/whoami-v2", AuthScheme: "Bearer",
		ErrorMessage: verifyonly.ErrorString, // {"error": "…"}
		Manual:       "sign in as the token's owner and delete (or invalidate and refresh) the token under Settings → Access Tokens",
		Refused:      "Hugging Face does not accept the token",
		Accepted: func(w whoami) providers.VerifyResult {
			facts := map[string]string{"account": w.Name, "account_type": w.Type}
			if w.Auth.AccessToken.DisplayName != "" {
				facts["token_name"] = w.Auth.AccessToken.DisplayName
			}
			if w.Auth.AccessToken.Role != "" {
				facts["token_role"] = w.Auth.AccessToken.Role
			}
			return providers.VerifyResult{Live: true, Detail: "the token authenticated as " + w.Name, Facts: facts}
		},
		Owner: func(w whoami) providers.Owner {
			return providers.Owner{User: w.Name, Email: w.Email, Facts: map[string]string{"fullname": w.Fullname}}
		},
		Gone: "the token no longer authenticates; Hugging Face does not say whose it was",
	}, cfg.BaseURL, cfg.HTTPClient)}
}

// Owner implements providers.OwnerLookup: the account the token belongs to.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	return verifyonly.Owner(ctx, c.base, cred)
}
