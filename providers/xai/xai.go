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
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
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

// Client implements providers.Provider and providers.OwnerLookup: Verify
// reads the key's own record (live unless disabled or blocked; 400
// "Incorrect API key" or 401 not live); Revoke escalates, xAI's API cannot
// revoke a key.
type Client struct{ *base }

type base = verifyonly.Client[apiKey] // embedded through an alias: the field stays unexported

var (
	_ providers.Provider    = (*Client)(nil)
	_ providers.OwnerLookup = (*Client)(nil)
)

// apiKey is GET /v1/api-key's answer.
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

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{verifyonly.New(verifyonly.Def[apiKey]{
		Spec: providers.Spec{Name: Name, DisplayName: "xAI", SecretTypes: []string{TypeAPIKey},
			ConsoleURL: ConsoleURL, DocsURL: "https://docs.x.ai/docs/api-reference#api-key"},
		DefaultBaseURL: DefaultBaseURL, Method: http.MethodGet, Path: "/v1/api-key", AuthScheme: "Bearer",
		ErrorMessage: verifyonly.ErrorString, // {"code","error"}
		Dead: func(status int, body []byte) bool {
			return status == http.StatusUnauthorized ||
				(status == http.StatusBadRequest && strings.Contains(verifyonly.ErrorString(status, body), "Incorrect API key"))
		},
		Manual:  manual,
		Refused: "xAI does not accept the key",
		Accepted: func(k apiKey) providers.VerifyResult {
			if k.APIKeyDisabled || k.APIKeyBlocked || k.TeamBlocked {
				return providers.VerifyResult{Detail: "the key authenticates but is disabled or blocked",
					Facts: map[string]string{"api_key_id": k.APIKeyID, "team_id": k.TeamID}}
			}
			return providers.VerifyResult{Live: true, Detail: "the key authenticated",
				Facts: map[string]string{"api_key_id": k.APIKeyID, "team_id": k.TeamID, "user_id": k.UserID, "key_name": k.Name}}
		},
		Owner: func(k apiKey) providers.Owner {
			return providers.Owner{User: k.UserID, Team: k.TeamID, Facts: map[string]string{"api_key_id": k.APIKeyID}}
		},
		Gone: "the key no longer authenticates",
	}, cfg.BaseURL, cfg.HTTPClient)}
}

// Owner implements providers.OwnerLookup: the user and team of the key.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	return verifyonly.Owner(ctx, c.base, cred)
}

// Revoke escalates, naming the key id and team; a key that is refused,
// disabled or blocked is reported already revoked.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	k, err := verifyonly.Lookup(ctx, c.base, providers.OpRevoke, cred.Secret)
	switch {
	case err != nil:
		return providers.RevokeResult{}, err
	case k == nil || k.APIKeyDisabled || k.APIKeyBlocked:
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "xAI no longer accepts the key (refused, disabled or blocked)"}, nil
	}
	return providers.Escalation(c.Spec(), k.APIKeyID, manual+" (key id "+k.APIKeyID+", team "+k.TeamID+")"), nil
}
