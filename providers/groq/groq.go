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
	"encoding/json"
	"net/http"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
)

// Name is the provider name.
const Name = "groq"

// DefaultBaseURL is Groq's API.
const DefaultBaseURL = "https://api.groq.com"

// TypeAPIKey is the secret type.
const TypeAPIKey = "groq_api_key"

// ConsoleURL is where a person deletes a key.
const ConsoleURL = "https://console.groq.com/keys"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider: Verify lists models with the key
// (200 live, 401 not live); Revoke escalates, Groq has no key revocation API.
type Client struct{ *base }

type base = verifyonly.Client[struct{}] // embedded through an alias: the field stays unexported

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{verifyonly.New(verifyonly.Def[struct{}]{
		Spec: providers.Spec{Name: Name, DisplayName: "Groq", SecretTypes: []string{TypeAPIKey},
			ConsoleURL: ConsoleURL, DocsURL: "https://console.groq.com/docs/api-reference#models-list"},
		DefaultBaseURL: DefaultBaseURL, Method: http.MethodGet, Path: "/openai/v1/models", AuthScheme: "Bearer",
		ErrorMessage: OpenAIErrorMessage,
		Manual:       "delete the key in the Groq console (API Keys), signed in to the organization that owns it",
		Refused:      "Groq does not accept the key",
		Accepted: func(struct{}) providers.VerifyResult {
			return providers.VerifyResult{Live: true, Detail: "the key listed models"}
		},
	}, cfg.BaseURL, cfg.HTTPClient)}
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
