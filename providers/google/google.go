// Package google is Firebreak's Google API key provider: it verifies a leaked
// API key against the Gemini API with the key itself, and deletes it through
// the API Keys API with Firebreak's own OAuth access token (escalating to a
// person when none is configured).
//
// HTTP shapes follow Google's references:
//
//   - Gemini API (https://ai.google.dev/api/models#method:-models.list):
//     GET https://generativelanguage.googleapis.com/v1/models with
//     "x-goog-api-key"; 200 {"models":[…]}. A key Google does not accept
//     answers 400 INVALID_ARGUMENT with an ErrorInfo reason API_KEY_INVALID
//     ("API key not valid. Please pass a valid API key."); a valid key
//     restricted away from this API answers 403 PERMISSION_DENIED with reason
//     API_KEY_SERVICE_BLOCKED (or SERVICE_DISABLED): live.
//   - API Keys API v2 (https://cloud.google.com/api-keys/docs/reference/rest):
//     GET https://apikeys.googleapis.com/v2/keys:lookupKey?keyString=… →
//     {"parent","name"} (name empty once the key is purged);
//     GET /v2/{name} → the Key (deleteTime set once deleted);
//     DELETE /v2/{name} → a long-running Operation {"name":"operations/…",
//     "done":false}, polled with GET /v2/{operation name} until "done",
//     then carrying "response" or "error".
//   - Errors: {"error":{"code","message","status","details":[{"@type":
//     "type.googleapis.com/google.rpc.ErrorInfo","reason",…}]}}.
//
// Create (rotation) makes a replacement in the leaked key's project with the
// same restrictions: POST /v2/{parent}/keys {"displayName","restrictions"}
// (an Operation, polled), then GET /v2/{name}/keyString for the new value.
//
// A deleted key stays restorable for 30 days (keys.undelete); Firebreak
// deletes and does not purge. The key travels in lookupKey's query string
// (the API's own design); Firebreak never puts a request URL into an error
// or a plan.
package google

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "google"

// Default base URLs.
const (
	DefaultGeminiURL  = "https://generativelanguage.googleapis.com"
	DefaultAPIKeysURL = "https://apikeys.googleapis.com"
)

// Secret types (GitHub secret scanning's slugs).
const (
	TypeAPIKey      = "google_api_key"
	TypeCloudAPIKey = "google_cloud_api_key"
)

// ConsoleURL is where a person deletes keys.
const ConsoleURL = "https://console.cloud.google.com/apis/credentials"

// Config configures a Client.
type Config struct {
	GeminiURL  string
	APIKeysURL string
	// AccessToken resolves an OAuth 2.0 access token (e.g. from a service
	// account with roles/serviceusage.apiKeysAdmin, refreshed by a sidecar
	// into a file, or from Vault) for the API Keys API. Without it Revoke
	// escalates.
	AccessToken secret.Source
	// PollInterval between Operation polls; 1s when zero.
	PollInterval time.Duration
	HTTPClient   *http.Client
}

// Client implements providers.Provider.
type Client struct {
	gemini, keys providers.API
	token        secret.Source
	poll         time.Duration
}

var (
	_ providers.Provider = (*Client)(nil)
	_ providers.Creator  = (*Client)(nil)
)

// New returns a Client.
func New(cfg Config) *Client {
	g := strings.TrimRight(cfg.GeminiURL, "/")
	if g == "" {
		g = DefaultGeminiURL
	}
	k := strings.TrimRight(cfg.APIKeysURL, "/")
	if k == "" {
		k = DefaultAPIKeysURL
	}
	poll := cfg.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	return &Client{
		gemini: providers.API{Provider: Name, BaseURL: g, Client: cfg.HTTPClient, ErrorMessage: errorMessage},
		keys:   providers.API{Provider: Name, BaseURL: k, Client: cfg.HTTPClient, ErrorMessage: errorMessage},
		token:  cfg.AccessToken, poll: poll,
	}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{Name: Name, DisplayName: "Google API keys", SecretTypes: []string{TypeAPIKey, TypeCloudAPIKey},
		Verify: true, Revoke: true, Rotate: true, RevokeRequires: "an OAuth token with apikeys.keys.lookup and apikeys.keys.delete",
		ConsoleURL: ConsoleURL, DocsURL: "https://cloud.google.com/api-keys/docs/reference/rest/v2/projects.locations.keys/delete"}
}

// Status is Google's error body.
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type   string `json:"@type"`
		Reason string `json:"reason"`
	} `json:"details"`
}

func parseStatus(body []byte) Status {
	var e struct {
		Error Status `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error
}

func (s Status) reason() string {
	for _, d := range s.Details {
		if d.Reason != "" {
			return d.Reason
		}
	}
	return ""
}

func errorMessage(status int, body []byte) string {
	s := parseStatus(body)
	if s.Message == "" {
		return http.StatusText(status)
	}
	msg := s.Message + " [" + s.Status
	if r := s.reason(); r != "" {
		msg += "/" + r
	}
	return msg + "]"
}

// Verify implements providers.Provider.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, &providers.Error{Provider: Name, Op: providers.OpVerify, Class: providers.Permanent, Message: "no key to verify"}
	}
	status, body, err := c.gemini.Do(ctx, providers.Request{Op: providers.OpVerify, Method: http.MethodGet, Path: "/v1/models?pageSize=1",
		Header: http.Header{"X-Goog-Api-Key": {cred.Secret.Reveal()}}, Scrub: cred.Secret})
	if err == nil {
		return providers.VerifyResult{Live: true, Detail: "the key listed Gemini models"}, nil
	}
	switch reason := parseStatus(body).reason(); {
	case status == http.StatusBadRequest && reason == "API_KEY_INVALID":
		return providers.VerifyResult{Detail: "Google answers API_KEY_INVALID: the key is deleted or never existed"}, nil
	case status == http.StatusForbidden && (reason == "API_KEY_SERVICE_BLOCKED" || reason == "SERVICE_DISABLED"):
		return providers.VerifyResult{Live: true, Detail: "the key is valid but not allowed to call the Gemini API (" + reason + ")",
			Facts: map[string]string{"restricted": "true"}}, nil
	}
	return providers.VerifyResult{}, err
}

type operation struct {
	Name  string          `json:"name"`
	Done  bool            `json:"done"`
	Error *Status         `json:"error"`
	Resp  json.RawMessage `json:"response"`
}

func (c *Client) do(ctx context.Context, tok secret.Value, method, path string, out any) (int, []byte, error) {
	return c.keys.Do(ctx, providers.Request{Op: providers.OpRevoke, Method: method, Path: path,
		Header: http.Header{"Authorization": {"Bearer " + tok.Reveal()}}, Scrub: tok, Out: out})
}

// Revoke implements providers.Provider: lookupKey, then DELETE the key and
// wait for the Operation.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	if cred.Secret.IsZero() {
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Permanent, Message: "no key to revoke"}
	}
	if c.token == nil {
		return providers.Escalation(c.Spec(), cred.KeyID,
			"Firebreak has no Google access token (providers.google.access_token): find the key in APIs & Services → Credentials of its project and delete it"), nil
	}
	tok, err := c.token.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: class, Message: "cannot resolve the access token", Err: err}
	}
	var lk struct {
		Parent string `json:"parent"`
		Name   string `json:"name"`
	}
	// The lookup carries the leaked key itself, and also in the Scrub list.
	status, _, err := c.keys.Do(ctx, providers.Request{Op: providers.OpRevoke, Method: http.MethodGet,
		Path:   "/v2/keys:lookupKey?keyString=" + url.QueryEscape(cred.Secret.Reveal()),
		Header: http.Header{"Authorization": {"Bearer " + tok.Reveal()}}, Scrub: cred.Secret, Out: &lk})
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "the API Keys API does not know the key"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if lk.Name == "" {
		return providers.RevokeResult{AlreadyRevoked: true, Facts: map[string]string{"project": lk.Parent}, Detail: "the key was purged"}, nil
	}
	facts := map[string]string{"project": lk.Parent, "key_name": lk.Name}
	var key struct {
		Name       string `json:"name"`
		UID        string `json:"uid"`
		DeleteTime string `json:"deleteTime"`
	}
	status, _, err = c.do(ctx, tok, http.MethodGet, "/v2/"+lk.Name, &key)
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: lk.Name, Facts: facts, Detail: "the key is gone"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if key.DeleteTime != "" {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: lk.Name, Facts: facts, Detail: "the key was already deleted at " + key.DeleteTime}, nil
	}
	var op operation
	status, _, err = c.do(ctx, tok, http.MethodDelete, "/v2/"+lk.Name, &op)
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: lk.Name, Facts: facts, Detail: "the key is gone"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	for !op.Done {
		select {
		case <-ctx.Done():
			return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Retryable,
				Message: "deletion " + op.Name + " still running", Err: ctx.Err()}
		case <-time.After(c.poll):
		}
		name := op.Name
		if _, _, err := c.do(ctx, tok, http.MethodGet, "/v2/"+name, &op); err != nil {
			return providers.RevokeResult{}, err
		}
	}
	if op.Error != nil {
		e := &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Permanent, Message: "deletion failed: " + op.Error.Message + " [" + op.Error.Status + "]"}
		switch op.Error.Status {
		case "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED":
			e.Class = providers.Retryable
		case "NOT_FOUND":
			return providers.RevokeResult{AlreadyRevoked: true, KeyID: lk.Name, Facts: facts, Detail: "the key is gone"}, nil
		}
		return providers.RevokeResult{}, e
	}
	return providers.RevokeResult{Action: "deleted", KeyID: lk.Name, Facts: facts,
		Detail: "deleted " + lk.Name + " (restorable for 30 days with keys.undelete)"}, nil
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	switch op {
	case providers.OpVerify:
		return []providers.Call{{Method: http.MethodGet, URL: c.gemini.URL("/v1/models?pageSize=1"), Note: "x-goog-api-key: the leaked key " + hint}}
	case providers.OpRevoke:
		if c.token == nil {
			return []providers.Call{{Note: "escalate: no access token configured; delete " + hint + " at " + ConsoleURL}}
		}
		return []providers.Call{
			{Method: http.MethodGet, URL: c.keys.URL("/v2/keys:lookupKey?keyString={the leaked key " + hint + "}")},
			{Method: http.MethodGet, URL: c.keys.URL("/v2/projects/{project}/locations/global/keys/{key}"), Note: "deleteTime set: already deleted"},
			{Method: http.MethodDelete, URL: c.keys.URL("/v2/projects/{project}/locations/global/keys/{key}"), Note: "a long-running operation, polled until done"},
		}
	}
	return nil
}

// token resolves the access token for op.
func (c *Client) accessToken(ctx context.Context, op providers.Op) (secret.Value, error) {
	if c.token == nil {
		return secret.Value{}, &providers.Error{Provider: Name, Op: op, Class: providers.Permanent,
			Message: "no Google access token is configured (providers.google.access_token)"}
	}
	tok, err := c.token.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return secret.Value{}, &providers.Error{Provider: Name, Op: op, Class: class, Message: "cannot resolve the access token", Err: err}
	}
	return tok, nil
}

func (c *Client) call(ctx context.Context, op providers.Op, tok secret.Value, method, path string, body, out any) (int, error) {
	status, _, err := c.keys.Do(ctx, providers.Request{Op: op, Method: method, Path: path,
		Header: http.Header{"Authorization": {"Bearer " + tok.Reveal()}}, Scrub: tok, Body: body, Out: out})
	return status, err
}

// wait polls an Operation until it is done.
func (c *Client) wait(ctx context.Context, op providers.Op, tok secret.Value, o operation) (operation, error) {
	for !o.Done {
		select {
		case <-ctx.Done():
			return o, &providers.Error{Provider: Name, Op: op, Class: providers.Retryable, Message: o.Name + " still running", Err: ctx.Err()}
		case <-time.After(c.poll):
		}
		name := o.Name
		if _, err := c.call(ctx, op, tok, http.MethodGet, "/v2/"+name, nil, &o); err != nil {
			return o, err
		}
	}
	if o.Error != nil {
		class := providers.Permanent
		switch o.Error.Status {
		case "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED":
			class = providers.Retryable
		}
		return o, &providers.Error{Provider: Name, Op: op, Class: class, Message: "operation failed: " + o.Error.Message + " [" + o.Error.Status + "]"}
	}
	return o, nil
}

// Create implements providers.Creator: a new key in the leaked key's
// project, with the leaked key's restrictions (so that the replacement can
// do no more than the old one), named r.Name or "<old name> (rotated)".
func (c *Client) Create(ctx context.Context, r providers.CreateRequest) (providers.Created, error) {
	op := providers.OpCreate
	tok, err := c.accessToken(ctx, op)
	if err != nil {
		return providers.Created{}, err
	}
	var lk struct {
		Parent string `json:"parent"`
		Name   string `json:"name"`
	}
	if _, _, err := c.keys.Do(ctx, providers.Request{Op: op, Method: http.MethodGet,
		Path:   "/v2/keys:lookupKey?keyString=" + url.QueryEscape(r.Old.Secret.Reveal()),
		Header: http.Header{"Authorization": {"Bearer " + tok.Reveal()}}, Scrub: r.Old.Secret, Out: &lk}); err != nil {
		return providers.Created{}, err
	}
	parent := lk.Parent
	if p := r.With["parent"]; p != "" {
		parent = p
	}
	if parent == "" {
		return providers.Created{}, &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: "the old key's project is unknown; set with: parent"}
	}
	var old struct {
		DisplayName  string          `json:"displayName"`
		Restrictions json.RawMessage `json:"restrictions"`
	}
	if lk.Name != "" {
		if _, err := c.call(ctx, op, tok, http.MethodGet, "/v2/"+lk.Name, nil, &old); err != nil {
			return providers.Created{}, err
		}
	}
	name := r.Name
	if name == "" {
		name = strings.TrimSpace(old.DisplayName + " (rotated)")
	}
	body := map[string]any{"displayName": name}
	if len(old.Restrictions) > 0 && string(old.Restrictions) != "null" {
		body["restrictions"] = old.Restrictions
	}
	var o operation
	if _, err := c.call(ctx, op, tok, http.MethodPost, "/v2/"+parent+"/keys", body, &o); err != nil {
		return providers.Created{}, err
	}
	if o, err = c.wait(ctx, op, tok, o); err != nil {
		return providers.Created{}, err
	}
	var created struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(o.Resp, &created)
	if created.Name == "" {
		return providers.Created{}, &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: "the create operation returned no key"}
	}
	var ks struct {
		KeyString string `json:"keyString"`
	}
	if _, err := c.call(ctx, op, tok, http.MethodGet, "/v2/"+created.Name+"/keyString", nil, &ks); err != nil {
		return providers.Created{}, err
	}
	v := secret.New(ks.KeyString)
	return providers.Created{
		Credential: providers.Credential{Provider: Name, Type: TypeAPIKey, Secret: v, KeyID: created.Name, Hint: secret.Hint(v)},
		Facts:      map[string]string{"key_name": created.Name, "project": parent, "restrictions_copied": fmt.Sprint(body["restrictions"] != nil)},
	}, nil
}
