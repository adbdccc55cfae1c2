// Package slack is Firebreak's Slack provider: it verifies a leaked Slack
// token with auth.test and revokes it with auth.revoke, both authenticated
// with the token itself, and names the user and workspace it belongs to.
//
// HTTP shapes follow Slack's Web API reference (https://docs.slack.dev/reference/methods):
//
//   - auth.test: POST https://slack.com/api/auth.test with
//     "Authorization: Bearer xox…"; {"ok":true,"url","team","user",
//     "team_id","user_id","bot_id"?}.
//   - auth.revoke: POST https://slack.com/api/auth.revoke, same auth;
//     {"ok":true,"revoked":true}.
//   - Errors arrive as HTTP 200 with {"ok":false,"error":"invalid_auth"}
//     (also not_authed, token_revoked, token_expired, account_inactive, …);
//     rate limits as HTTP 429 with Retry-After and error "ratelimited".
//
// invalid_auth, token_revoked, token_expired and account_inactive mean the
// token is dead (Verify: not live; Revoke: already revoked). internal_error,
// fatal_error, service_unavailable and request_timeout are retryable; any
// other ok:false error is permanent.
//
// A leaked incoming-webhook URL (slack_incoming_webhook_url) is a credential
// too, but no API call can check or revoke it without posting to the
// channel: Verify reports it live unchecked, and Revoke escalates (remove the
// webhook from the app's configuration).
package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "slack"

// DefaultBaseURL is Slack's Web API host.
const DefaultBaseURL = "https://slack.com"

// Secret types (GitHub secret scanning's slugs).
const (
	TypeAPIToken   = "slack_api_token"
	TypeWebhookURL = "slack_incoming_webhook_url"
)

// ConsoleURL is where apps, tokens and webhooks are managed.
const ConsoleURL = "https://api.slack.com/apps"

// Config configures a Client.
type Config struct {
	BaseURL    string
	HTTPClient *http.Client
}

// Client implements providers.Provider and providers.OwnerLookup.
type Client struct {
	api providers.API
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
	return &Client{api: providers.API{Provider: Name, BaseURL: base, Client: cfg.HTTPClient, ErrorMessage: errorMessage}}
}

func errorMessage(status int, body []byte) string {
	var r response
	if json.Unmarshal(body, &r) == nil && r.Error != "" {
		return r.Error
	}
	return http.StatusText(status)
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Slack", SecretTypes: []string{TypeAPIToken, TypeWebhookURL},
		Verify: true, Revoke: true, Owner: true, ConsoleURL: ConsoleURL,
		DocsURL: "https://docs.slack.dev/reference/methods/auth.revoke"}
}

type response struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	URL     string `json:"url"`
	Team    string `json:"team"`
	User    string `json:"user"`
	TeamID  string `json:"team_id"`
	UserID  string `json:"user_id"`
	BotID   string `json:"bot_id"`
	Revoked bool   `json:"revoked"`
}

func dead(e string) bool {
	switch e {
	case "invalid_auth", "token_revoked", "token_expired", "account_inactive":
		return true
	}
	return false
}

func retryable(e string) bool {
	switch e {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
		return true
	}
	return false
}

func isWebhook(cred providers.Credential) bool {
	return cred.Type == TypeWebhookURL || strings.HasPrefix(cred.Secret.Reveal(), "https://hooks.slack.com/")
}

// call makes one Web API call with the token; it returns the decoded answer,
// or a classified error (ok:false errors included, dead-token errors apart).
func (c *Client) call(ctx context.Context, op providers.Op, method string, tok secret.Value) (response, error) {
	var r response
	_, _, err := c.api.Do(ctx, providers.Request{
		Op: op, Method: http.MethodPost, Path: "/api/" + method,
		Header: http.Header{"Authorization": {"Bearer " + tok.Reveal()}, "Content-Type": {"application/x-www-form-urlencoded"}},
		Scrub:  tok, Out: &r,
	})
	if err != nil {
		return r, err
	}
	if !r.OK && !dead(r.Error) {
		class := providers.Permanent
		if retryable(r.Error) {
			class = providers.Retryable
		}
		msg := r.Error
		if msg == "" {
			msg = "ok:false without an error"
		}
		return r, &providers.Error{Provider: Name, Op: op, Class: class, Status: http.StatusOK, Message: method + ": " + msg}
	}
	return r, nil
}

// Verify implements providers.Provider with auth.test.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, &providers.Error{Provider: Name, Op: providers.OpVerify, Class: providers.Permanent, Message: "no token to verify"}
	}
	if isWebhook(cred) {
		return providers.VerifyResult{Live: true, Detail: "an incoming-webhook URL cannot be checked without posting to its channel; assumed live",
			Facts: map[string]string{"verified": "false", "token_kind": "incoming_webhook"}}, nil
	}
	r, err := c.call(ctx, providers.OpVerify, "auth.test", cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if !r.OK {
		return providers.VerifyResult{Detail: "Slack answers " + r.Error + ": the token is dead"}, nil
	}
	facts := map[string]string{"team": r.Team, "team_id": r.TeamID, "user": r.User, "user_id": r.UserID}
	if r.BotID != "" {
		facts["bot_id"] = r.BotID
	}
	return providers.VerifyResult{Live: true, Detail: "the token authenticated as " + r.User + " in " + r.Team, Facts: facts}, nil
}

// Owner implements providers.OwnerLookup with auth.test.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	if isWebhook(cred) {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent, Message: "a webhook URL names no owner"}
	}
	r, err := c.call(ctx, providers.OpOwner, "auth.test", cred.Secret)
	if err != nil {
		return providers.Owner{}, err
	}
	if !r.OK {
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: providers.Permanent, Message: "the token is dead: " + r.Error}
	}
	return providers.Owner{User: r.User, Team: r.Team, Facts: map[string]string{"user_id": r.UserID, "team_id": r.TeamID}}, nil
}

// Revoke implements providers.Provider with auth.revoke. A dead token is
// already revoked. A webhook URL is escalated.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	if cred.Secret.IsZero() {
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Permanent, Message: "no token to revoke"}
	}
	if isWebhook(cred) {
		return providers.Escalation(c.Spec(), "", "remove the incoming webhook from the Slack app's Incoming Webhooks page (or uninstall the app) in the workspace it posts to"), nil
	}
	r, err := c.call(ctx, providers.OpRevoke, "auth.revoke", cred.Secret)
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if !r.OK {
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "Slack answers " + r.Error + ": the token was already revoked"}, nil
	}
	return providers.RevokeResult{Action: "revoked", Detail: "auth.revoke answered revoked:true"}, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	if isWebhook(cred) {
		if op == providers.OpRevoke {
			return []providers.Call{{Note: "no API: escalate — remove the incoming webhook " + hint + " at " + ConsoleURL}}
		}
		return []providers.Call{{Note: "no call: a webhook URL is assumed live"}}
	}
	switch op {
	case providers.OpVerify:
		return []providers.Call{{Method: http.MethodPost, URL: c.api.URL("/api/auth.test"), Note: "authenticated with the leaked token " + hint}}
	case providers.OpRevoke:
		return []providers.Call{{Method: http.MethodPost, URL: c.api.URL("/api/auth.revoke"),
			Note: "authenticated with the leaked token " + hint + "; ok:false invalid_auth means already revoked"}}
	}
	return nil
}
