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
	"context"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/groq"
	"github.com/firebreak-sec/firebreak/providers/internal/keycheck"
)

// Name is the provider name.
const Name = "perplexity"

// DefaultBaseURL is Perplexity's API.
const DefaultBaseURL = "https://api.perplexity.ai"

// TypeAPIKey is the secret type.
const TypeAPIKey = "perplexity_api_key"

// ConsoleURL is where a person deletes a key.
const ConsoleURL = "https://www.perplexity.ai/account/api/keys"

const manual = "delete the key in Perplexity's API settings (API Keys), signed in to the group that owns it"

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
	c := &Client{api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: groq.OpenAIErrorMessage}}
	c.check = keycheck.Check{
		API: &c.api, Method: http.MethodPost, Path: "/chat/completions",
		Auth: func(v secret.Value) http.Header { return http.Header{"Authorization": {"Bearer " + v.Reveal()}} },
		Body: func() any {
			return map[string]any{"model": "sonar", "max_tokens": 1,
				"messages": []map[string]string{{"role": "user", "content": "ping"}}}
		},
		Dead: func(status int, _ []byte) bool { return status == http.StatusUnauthorized },
	}
	return c
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Perplexity", SecretTypes: []string{TypeAPIKey}, Verify: true,
		ConsoleURL: ConsoleURL, DocsURL: "https://docs.perplexity.ai/api-reference/chat-completions-post"}
}

// Verify implements providers.Provider: 200 live, 401 not live.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	res, err := c.check.Do(ctx, providers.OpVerify, cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if !res.Live {
		return providers.VerifyResult{Detail: "Perplexity refuses the key (401: revoked, unknown, or out of credit)"}, nil
	}
	return providers.VerifyResult{Live: true, Detail: "the key completed a one-token request"}, nil
}

// Revoke escalates: Perplexity has no key revocation API.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	return keycheck.Escalate(ctx, c.check, c.Spec(), cred, manual)
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	return c.check.Plan(op, cred, c.Spec(), manual)
}
