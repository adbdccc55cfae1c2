// Package xai is Firebreak's xAI provider: it verifies a leaked xAI API key
// with the key itself and reads its owner; xAI's public API cannot revoke a
// key, so Revoke escalates to a person with the console page.
//
// HTTP shapes follow xAI's REST API reference (https://docs.x.ai/docs/api-reference):
// GET https://api.x.ai/v1/api-key with "Authorization: Bearer xai-…" returns
// the key's own record ({"redacted_api_key","user_id","name","create_time",
// "modify_time","team_id","acls","api_key_id","team_blocked",
// "api_key_blocked","api_key_disabled"}). A key xAI does not accept answers
// 400 {"code":"Client specified an invalid argument","error":"Incorrect API
// key provided: xa***…"} (xAI uses 400, not 401, for a wrong key; 401 is read
// the same way). A key that still authenticates but is blocked or disabled is
// not live.
package xai

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
const Name = "xai"

// DefaultBaseURL is xAI's API.
const DefaultBaseURL = "https://api.x.ai"

// TypeAPIKey is the secret type.
const TypeAPIKey = "xai_api_key"

// ConsoleURL is where a person deletes a key.
const ConsoleURL = "https://console.x.ai"

const manual = "delete (or disable) the key in the xAI console under API Keys, in the team that owns it"

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
		API: &c.api, Method: http.MethodGet, Path: "/v1/api-key",
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {"Bearer " + v.Reveal()}} },
		Dead: func(status int, body []byte) bool {
			return status == http.StatusUnauthorized ||
				(status == http.StatusBadRequest && strings.Contains(errorMessage(status, body), "Incorrect API key"))
		},
	}
	return c
}

func errorMessage(status int, body []byte) string {
	var e struct {
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(status)
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "xAI", SecretTypes: []string{TypeAPIKey}, Verify: true, Owner: true,
		ConsoleURL: ConsoleURL, DocsURL: "https://docs.x.ai/docs/api-reference#api-key"}
}

type apiKey struct {
	RedactedAPIKey string `json:"redacted_api_key"`
	UserID         string `json:"user_id"`
	Name           string `json:"name"`
	TeamID         string `json:"team_id"`
	APIKeyID       string `json:"api_key_id"`
	TeamBlocked    bool   `json:"team_blocked"`
	APIKeyBlocked  bool   `json:"api_key_blocked"`
	APIKeyDisabled bool   `json:"api_key_disabled"`
}

func (c *Client) lookup(ctx context.Context, op providers.Op, v secret.Value) (*apiKey, error) {
	res, err := c.check.Do(ctx, op, v)
	if err != nil || !res.Live {
		return nil, err
	}
	var k apiKey
	_ = json.Unmarshal(res.Body, &k)
	return &k, nil
}

// Verify implements providers.Provider.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	k, err := c.lookup(ctx, providers.OpVerify, cred.Secret)
	switch {
	case err != nil:
		return providers.VerifyResult{}, err
	case k == nil:
		return providers.VerifyResult{Detail: "xAI does not accept the key"}, nil
	case k.APIKeyDisabled || k.APIKeyBlocked || k.TeamBlocked:
		return providers.VerifyResult{Detail: "the key authenticates but is disabled or blocked",
			Facts: map[string]string{"api_key_id": k.APIKeyID, "team_id": k.TeamID}}, nil
	}
	return providers.VerifyResult{Live: true, Detail: "the key authenticated",
		Facts: map[string]string{"api_key_id": k.APIKeyID, "team_id": k.TeamID, "user_id": k.UserID, "key_name": k.Name}}, nil
}

// Owner implements providers.OwnerLookup: the user and team of the key.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	k, err := c.lookup(ctx, providers.OpOwner, cred.Secret)
	if err != nil {
		return providers.Owner{}, err
	}
	if k == nil {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent, Message: "the key no longer authenticates"}
	}
	return providers.Owner{User: k.UserID, Team: k.TeamID, Facts: map[string]string{"api_key_id": k.APIKeyID}}, nil
}

// Revoke escalates; a key that is already disabled or refused is reported
// already revoked.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	k, err := c.lookup(ctx, providers.OpRevoke, cred.Secret)
	switch {
	case err != nil:
		return providers.RevokeResult{}, err
	case k == nil || k.APIKeyDisabled || k.APIKeyBlocked:
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "xAI no longer accepts the key (refused, disabled or blocked)"}, nil
	}
	res := providers.Escalation(c.Spec(), k.APIKeyID, manual+" (key id "+k.APIKeyID+", team "+k.TeamID+")")
	return res, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), manual)
}
