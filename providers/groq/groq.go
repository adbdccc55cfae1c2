// Package groq is Firebreak's Groq provider: it verifies a leaked Groq API
// key with the key itself; Groq has no public API to revoke keys, so Revoke
// escalates to a person with the console page where keys are deleted.
//
// HTTP shapes follow Groq's OpenAI-compatible API reference
// (https://console.groq.com/docs/api-reference): GET
// https://api.groq.com/openai/v1/models with "Authorization: Bearer gsk_…"
// lists models (200 {"object":"list","data":[…]}); a key Groq does not accept
// answers 401 {"error":{"message":"Invalid API Key","type":
// "invalid_request_error","code":"invalid_api_key"}}; rate limits answer 429
// with retry-after.
package groq

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
const Name = "groq"

// DefaultBaseURL is Groq's API.
const DefaultBaseURL = "https://api.groq.com"

// TypeAPIKey is the secret type.
const TypeAPIKey = "groq_api_key"

// ConsoleURL is where a person deletes a key.
const ConsoleURL = "https://console.groq.com/keys"

const manual = "delete the key in the Groq console (API Keys), signed in to the organization that owns it"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider.
type Client struct {
	api   providers.API
	check keycheck.Check
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	c := &Client{api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: OpenAIErrorMessage}}
	c.check = keycheck.Check{
		API: &c.api, Method: http.MethodGet, Path: "/openai/v1/models",
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {"Bearer " + v.Reveal()}} },
		Dead: func(status int, _ []byte) bool { return status == http.StatusUnauthorized },
	}
	return c
}

// OpenAIErrorMessage reads the OpenAI-style error body {"error":{"message","type","code"}}.
func OpenAIErrorMessage(status int, body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return http.StatusText(status)
	}
	if code, ok := e.Error.Code.(string); ok && code != "" {
		return e.Error.Message + " [" + code + "]"
	}
	return e.Error.Message
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Groq", SecretTypes: []string{TypeAPIKey}, Verify: true,
		ConsoleURL: ConsoleURL, DocsURL: "https://console.groq.com/docs/api-reference#models-list"}
}

// Verify implements providers.Provider: 200 live, 401 not live.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	res, err := c.check.Do(ctx, providers.OpVerify, cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if !res.Live {
		return providers.VerifyResult{Detail: "Groq does not accept the key"}, nil
	}
	return providers.VerifyResult{Live: true, Detail: "the key listed models"}, nil
}

// Revoke escalates: Groq has no key revocation API.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return keycheck.Escalate(ctx, c.check, c.Spec(), cred, manual)
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), manual)
}
