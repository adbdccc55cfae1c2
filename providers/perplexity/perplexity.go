// Package perplexity is Firebreak's Perplexity provider: it verifies a leaked
// Perplexity API key with the key itself; Perplexity has no public API to
// revoke keys, so Revoke escalates to a person with the console page.
//
// Perplexity's API (https://docs.perplexity.ai/api-reference) has no free
// "who am I" or model-list call, so Verify sends the smallest chat completion
// the API accepts — POST https://api.perplexity.ai/chat/completions with
// "Authorization: Bearer pplx-…", model "sonar", one short message and
// max_tokens 1 (a fraction of a cent) — and reads the status: 200 live, 401
// not live (Perplexity also answers 401 when the key's credit is exhausted;
// the key is then still a credential and Firebreak treats the 401 as "not
// live" only for the purpose of this check, which the detail says). Errors
// use the OpenAI-compatible shape {"error":{"message","type","code"}}.
package perplexity

import (
	"net/http"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/groq"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
)

// Name is the provider name.
const Name = "perplexity"

// DefaultBaseURL is Perplexity's API.
const DefaultBaseURL = "https://api.perplexity.ai"

// TypeAPIKey is the secret type.
const TypeAPIKey = "perplexity_api_key"

// ConsoleURL is where a person deletes a key.
const ConsoleURL = "https://www.perplexity.ai/account/api/keys"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider: Verify sends a one-token chat
// completion with the key (200 live, 401 not live); Revoke escalates,
// Perplexity has no key revocation API.
type Client struct{ *base }

type base = verifyonly.Client[struct{}] // embedded through an alias: the field stays unexported

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	return &Client{verifyonly.New(verifyonly.Def[struct{}]{
		Spec: providers.Spec{Name: Name, DisplayName: "Perplexity", SecretTypes: []string{TypeAPIKey},
			ConsoleURL: ConsoleURL, DocsURL: "https://docs.perplexity.ai/api-reference/chat-completions-post"},
		DefaultBaseURL: DefaultBaseURL, Method: http.MethodPost, Path: "/chat/completions", AuthScheme: "Bearer",
		Body: func() any {
			return map[string]any{"model": "sonar", "max_tokens": 1,
				"messages": []map[string]string{{"role": "user", "content": "ping"}}}
		},
		ErrorMessage: groq.OpenAIErrorMessage,
		Manual:       "delete the key in Perplexity's API settings (API Keys), signed in to the group that owns it",
		Refused:      "Perplexity refuses the key (401: revoked, unknown, or out of credit)",
		Accepted: func(struct{}) providers.VerifyResult {
			return providers.VerifyResult{Live: true, Detail: "the key completed a one-token request"}
		},
	}, cfg.BaseURL, cfg.HTTPClient)}
}
