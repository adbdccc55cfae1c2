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
	"encoding/json"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/keycheck"
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

const manual = "sign in as the token's owner and delete (or invalidate and refresh) the token under Settings → Access Tokens"

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
		API: &c.api, Method: http.MethodGet, Path: "/api/whoami-v2",
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {"Bearer " + v.Reveal()}} },
		Dead: func(status int, _ []byte) bool { return status == http.StatusUnauthorized },
	}
	return c
}

func errorMessage(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(status)
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{
		Name: Name, DisplayName: "Hugging Face", SecretTypes: []string{TypeUserToken, TypeOrgToken, TypeToken},
		Verify: true, Revoke: false, Owner: true, ConsoleURL: ConsoleURL,
		DocsURL: "https://huggingface.co/docs/hub/security-tokens",
	}
}

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

// Verify implements providers.Provider: 200 live (facts: account, token
// name and role), 401 not live.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	res, err := c.check.Do(ctx, providers.OpVerify, cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if !res.Live {
		return providers.VerifyResult{Detail: "Hugging Face does not accept the token"}, nil
	}
	var w whoami
	_ = json.Unmarshal(res.Body, &w)
	facts := map[string]string{"account": w.Name, "account_type": w.Type}
	if w.Auth.AccessToken.DisplayName != "" {
		facts["token_name"] = w.Auth.AccessToken.DisplayName
	}
	if w.Auth.AccessToken.Role != "" {
		facts["token_role"] = w.Auth.AccessToken.Role
	}
	return providers.VerifyResult{Live: true, Detail: "the token authenticated as " + w.Name, Facts: facts}, nil
}

// Owner implements providers.OwnerLookup: the account the token belongs to.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	res, err := c.check.Do(ctx, providers.OpOwner, cred.Secret)
	if err != nil {
		return providers.Owner{}, err
	}
	if !res.Live {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent,
			Message: "the token no longer authenticates; Hugging Face does not say whose it was"}
	}
	var w whoami
	_ = json.Unmarshal(res.Body, &w)
	return providers.Owner{User: w.Name, Email: w.Email, Facts: map[string]string{"fullname": w.Fullname}}, nil
}

// Revoke escalates: the Hub has no token revocation API.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return keycheck.Escalate(ctx, c.check, c.Spec(), cred, manual)
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), manual)
}
