// Package openai is Firebreak's OpenAI provider: it verifies a leaked OpenAI
// API key with the key itself and revokes it through the organization's Admin
// API.
//
// The HTTP shapes follow OpenAI's API reference
// (https://platform.openai.com/docs/api-reference):
//
//   - Administration → Projects: GET /v1/organization/projects
//     (limit 1..100, after cursor, include_archived; a list object with data,
//     first_id, last_id, has_more).
//   - Administration → Project API keys: GET and DELETE
//     /v1/organization/projects/{project_id}/api_keys[/{key_id}] (each key has
//     id, name, redacted_value, an owner of type "user" or "service_account",
//     owner_project_access "active" or "inactive" and an optional
//     expires_at). The listing takes owner_project_access: without it the
//     endpoint "applies the existing membership-based visibility rules, which
//     may exclude some enabled keys", so Firebreak always sends "any" (every
//     enabled key). The reference says the DELETE answers "an error if the
//     key belonged to a service account".
//   - Administration → Project service accounts: DELETE
//     /v1/organization/projects/{project_id}/service_accounts/{service_account_id},
//     which removes the service account and with it its key.
//   - Administration → Admin API keys: GET and DELETE
//     /v1/organization/admin_api_keys[/{key_id}], for a leaked sk-admin- key.
//   - Errors: {"error": {"message", "type", "param", "code"}}.
//
// Verification uses GET /v1/me, which the platform's own dashboard calls and
// which is not in the public reference; its 200 body is a user object with an
// "orgs" list. See Verify for how each answer is read.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name used in specs, errors and exposures.
const Name = "openai"

// DefaultBaseURL is OpenAI's API.
const DefaultBaseURL = "https://api.openai.com"

// Secret type slugs this provider handles. openai_api_key is GitHub secret
// scanning's slug for every OpenAI key format (legacy sk-, sk-proj-,
// sk-svcacct-); openai_admin_key is the slug Firebreak's detectors use for
// sk-admin- organization keys.
const (
	TypeAPIKey   = "openai_api_key"
	TypeAdminKey = "openai_admin_key"
)

// Config configures a Client.
type Config struct {
	// BaseURL of the API; DefaultBaseURL when empty.
	BaseURL string
	// AdminKey resolves an organization admin key (sk-admin-…) at call time.
	// Revoke needs it; without it Revoke fails permanently and Plan says so.
	AdminKey secret.Source
	// HTTPClient sends the requests; http.DefaultClient when nil. Timeouts
	// come from the caller's context.
	HTTPClient *http.Client
	// PageSize is the limit used on list calls, 1..100; 100 when zero.
	PageSize int
	// IndexTTL is how long one listing of the organization's keys serves
	// revocations (DefaultIndexTTL when zero; negative: list every time).
	IndexTTL time.Duration
	// Logger receives debug lines (never a secret); discarded when nil.
	Logger logrus.FieldLogger
}

// Client implements providers.Provider for OpenAI.
type Client struct {
	api      providers.API
	adminKey secret.Source
	pageSize int
	log      logrus.FieldLogger
	idx      index
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	ttl := cfg.IndexTTL
	if ttl == 0 {
		ttl = DefaultIndexTTL
	}
	ps := cfg.PageSize
	if ps <= 0 || ps > 100 {
		ps = 100
	}
	log := cfg.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Client{
		api: providers.API{
			Provider:     Name,
			BaseURL:      base,
			Client:       cfg.HTTPClient,
			ErrorMessage: errorMessage,
		},
		adminKey: cfg.AdminKey,
		pageSize: ps,
		idx:      index{ttl: ttl},
		log:      log.WithField("provider", Name),
	}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{
		Name:           Name,
		DisplayName:    "OpenAI",
		SecretTypes:    []string{TypeAPIKey, TypeAdminKey},
		Verify:         true,
		Revoke:         true,
		Rotate:         true,
		Owner:          true,
		RevokeRequires: "admin key",
		ConsoleURL:     "https://platform.openai.com/api-keys",
		DocsURL:        "https://platform.openai.com/docs/api-reference/project-api-keys",
	}
}

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   any    `json:"param"`
		Code    any    `json:"code"` // a string or null
	} `json:"error"`
}

func parseError(body []byte) (msg, typ, code string) {
	var e apiError
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	if s, ok := e.Error.Code.(string); ok {
		code = s
	}
	return e.Error.Message, e.Error.Type, code
}

func errorMessage(status int, body []byte) string {
	msg, _, code := parseError(body)
	if msg == "" {
		return http.StatusText(status)
	}
	if code != "" {
		return msg + " [" + code + "]"
	}
	return msg
}

func bearer(v secret.Value) http.Header {
	return http.Header{"Authorization": {"Bearer " + v.Reveal()}}
}

func isAdminKey(v secret.Value) bool { return strings.HasPrefix(v.Reveal(), "sk-admin-") }

// me is the part of GET /v1/me that Firebreak reads.
type me struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Orgs   struct {
		Data []struct {
			ID        string `json:"id"`
			Title     string `json:"title"`
			Name      string `json:"name"`
			IsDefault bool   `json:"is_default"`
			Personal  bool   `json:"personal"`
		} `json:"data"`
	} `json:"orgs"`
}

// Verify reports whether the key is live, calling the API with the key itself:
// GET /v1/me for project, service-account and legacy keys, and
// GET /v1/organization/admin_api_keys?limit=1 for sk-admin- keys (admin keys
// are refused on non-administration endpoints).
//
//   - 200: live; Facts carry the user id and the default organization.
//   - 401 with "insufficient permissions" / "Missing scopes": live — the key
//     authenticated but is restricted (OpenAI answers 401, not 403, for that).
//   - any other 401 (invalid_api_key, a deactivated key): not live, no error.
//   - 429 with code insufficient_quota: live — the organization is out of
//     credit, which says nothing about the key's validity.
//   - other 429 and 5xx: a retryable *providers.Error with the Retry-After.
//   - anything else: a permanent *providers.Error.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	if cred.Secret.IsZero() {
		return providers.VerifyResult{}, &providers.Error{Provider: Name, Op: providers.OpVerify, Class: providers.Permanent, Message: "no key to verify"}
	}
	path := "/v1/me"
	if isAdminKey(cred.Secret) {
		path = "/v1/organization/admin_api_keys?limit=1"
	}
	var out me
	status, body, err := c.api.Do(ctx, providers.Request{
		Op: providers.OpVerify, Method: http.MethodGet, Path: path,
		Header: bearer(cred.Secret), Scrub: cred.Secret, Out: &out,
	})
	if err == nil {
		res := providers.VerifyResult{Live: true, Detail: "the key authenticated", Facts: map[string]string{}}
		if isAdminKey(cred.Secret) {
			res.Detail = "the admin key authenticated"
			res.Facts["key_kind"] = "admin"
			return res, nil
		}
		if out.ID != "" {
			res.Facts["user_id"] = out.ID
		}
		if n := len(out.Orgs.Data); n > 0 {
			org := out.Orgs.Data[0]
			for _, o := range out.Orgs.Data {
				if o.IsDefault {
					org = o
					break
				}
			}
			res.Facts["org_id"] = org.ID
			if org.Title != "" {
				res.Facts["org_name"] = org.Title
			}
			res.Facts["org_count"] = strconv.Itoa(n)
		}
		return res, nil
	}
	msg, _, code := parseError(body)
	switch {
	case status == http.StatusUnauthorized && restricted(msg):
		return providers.VerifyResult{Live: true, Detail: "the key authenticated but is restricted (missing scopes)",
			Facts: map[string]string{"restricted": "true"}}, nil
	case status == http.StatusUnauthorized:
		d := "OpenAI does not accept the key"
		if code != "" {
			d += " (" + code + ")"
		}
		return providers.VerifyResult{Live: false, Detail: d}, nil
	case status == http.StatusTooManyRequests && code == "insufficient_quota":
		return providers.VerifyResult{Live: true, Detail: "the key authenticated; its organization has exceeded its quota",
			Facts: map[string]string{"insufficient_quota": "true"}}, nil
	}
	return providers.VerifyResult{}, err
}

func restricted(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "insufficient permissions") || strings.Contains(m, "missing scopes")
}

// list is OpenAI's list envelope.
type list[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	FirstID string `json:"first_id"`
	LastID  string `json:"last_id"`
	HasMore bool   `json:"has_more"`
}

type project struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

type projectKey struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	RedactedValue string `json:"redacted_value"`
	// OwnerProjectAccess is "active" or "inactive": whether the key's owner
	// currently has access to the project ("" from an API that predates it).
	OwnerProjectAccess string `json:"owner_project_access"`
	ExpiresAt          *int64 `json:"expires_at"` // unix seconds; nil: no expiry
	Owner              struct {
		Type string `json:"type"`
		User *struct {
			ID    string `json:"id"`
			Email string `json:"email"`
			Name  string `json:"name"`
		} `json:"user"`
		ServiceAccount *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"service_account"`
	} `json:"owner"`
}

type adminKey struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	RedactedValue string `json:"redacted_value"`
}

// candidate is a project key whose redacted value matches the leaked key.
type candidate struct {
	project string
	key     projectKey
}

// Revoke revokes the key with the organization's admin key.
//
// A project key is found by listing the organization's active projects (the
// Projects reference excludes archived projects by default; an archived
// project's keys cannot be used, so Firebreak leaves them alone) and each
// project's keys, following after/has_more/last_id, and matching each key's
// redacted_value (the visible head and tail of the key, e.g. "sk-proj-…9f2c")
// against the leaked key. The whole organization is scanned: exactly one match
// is deleted; none means the key no longer exists (AlreadyRevoked, no error);
// more than one is a permanent error, because deleting a key that only looks
// like the leaked one would break someone else's service.
//
// Credential.KeyID, when known ("key_…", or "proj_…/key_…" to name the
// project too), skips the key listing: the key is fetched by id, and it is
// deleted only if its redacted value matches the leaked key.
//
// A key owned by a service account cannot be deleted on its own (the API
// answers an error); it is revoked by deleting the service account, which
// removes its only key. A leaked sk-admin- key is matched against the admin
// key list and deleted there.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	if cred.Secret.IsZero() {
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, "no key to revoke")
	}
	if c.adminKey == nil {
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke,
			"revoking an OpenAI key requires an admin key (sk-admin-…); none is configured")
	}
	ak, err := c.adminKey.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: class,
			Message: "cannot resolve the admin key", Err: err}
	}
	if ak.IsZero() {
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, "the configured admin key is empty")
	}
	log := c.log.WithField("key", cred.Hint)
	if isAdminKey(cred.Secret) {
		return c.revokeAdminKey(ctx, ak, cred)
	}
	var cands []candidate
	if cred.KeyID != "" {
		cands, err = c.findByID(ctx, ak, cred)
	} else {
		cands, err = c.search(ctx, ak, cred.Secret)
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	switch len(cands) {
	case 0:
		log.Debug("no project key matches; nothing to revoke")
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: cred.KeyID,
			Detail: "no key in the organization's active projects matches; it was already deleted"}, nil
	case 1:
	default:
		ids := make([]string, 0, len(cands))
		for _, k := range cands {
			ids = append(ids, k.project+"/"+k.key.ID)
		}
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, fmt.Sprintf(
			"%d project keys match the leaked key's redacted form (%s); refusing to guess which one to delete — revoke it by hand or set the key id",
			len(cands), strings.Join(ids, ", ")))
	}
	return c.deleteKey(ctx, ak, cands[0])
}

func (c *Client) permanent(op providers.Op, msg string) *providers.Error {
	return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: msg}
}

// admin sends one admin API call.
func (c *Client) admin(ctx context.Context, ak secret.Value, method, path string, out any) (int, error) {
	status, _, err := c.api.Do(ctx, providers.Request{
		Op: providers.OpRevoke, Method: method, Path: path,
		Header: bearer(ak), Scrub: ak, Out: out,
	})
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		pe.Message = "the admin key was refused: " + pe.Message
	}
	return status, err
}

func (c *Client) pageQuery(after string) string {
	q := url.Values{"limit": {strconv.Itoa(c.pageSize)}}
	if after != "" {
		q.Set("after", after)
	}
	return q.Encode()
}

// keysQuery is pageQuery for a project's key listing, which must ask for
// owner_project_access=any on every page: the default view follows project
// membership and can hide an enabled key whose owner lost access to the
// project, which Revoke would then report as already deleted.
func (c *Client) keysQuery(after string) string {
	return c.pageQuery(after) + "&owner_project_access=any"
}

// projects lists the organization's active projects, all pages.
func (c *Client) projects(ctx context.Context, ak secret.Value) ([]project, error) {
	var all []project
	after := ""
	for {
		var page list[project]
		if _, err := c.listPage(ctx, ak, "/v1/organization/projects?"+c.pageQuery(after), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		next := nextCursor(page.HasMore, page.LastID, len(page.Data), func() string { return page.Data[len(page.Data)-1].ID })
		if next == "" || next == after {
			return all, nil
		}
		after = next
	}
}

// nextCursor returns the after cursor for the next page, or "" when done.
func nextCursor(hasMore bool, lastID string, n int, lastOfData func() string) string {
	if !hasMore || n == 0 {
		return ""
	}
	if lastID != "" {
		return lastID
	}
	return lastOfData()
}

// findByID fetches the key named by cred.KeyID ("key_…" or "proj_…/key_…").
func (c *Client) findByID(ctx context.Context, ak secret.Value, cred providers.Credential) ([]candidate, error) {
	projectID, keyID, ok := strings.Cut(cred.KeyID, "/")
	if !ok {
		projectID, keyID = "", cred.KeyID
	}
	var projects []string
	if projectID != "" {
		projects = []string{projectID}
	} else {
		ps, err := c.projects(ctx, ak)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			projects = append(projects, p.ID)
		}
	}
	for _, p := range projects {
		var k projectKey
		path := "/v1/organization/projects/" + url.PathEscape(p) + "/api_keys/" + url.PathEscape(keyID)
		status, err := c.admin(ctx, ak, http.MethodGet, path, &k)
		if status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !MatchRedacted(k.RedactedValue, cred.Secret) {
			return nil, c.permanent(providers.OpRevoke, fmt.Sprintf(
				"key %s in project %s does not match the leaked key (its redacted value is %q); not deleting it", keyID, p, k.RedactedValue))
		}
		return []candidate{{project: p, key: k}}, nil
	}
	return nil, nil
}

type deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func (c *Client) deleteKey(ctx context.Context, ak secret.Value, k candidate) (providers.RevokeResult, error) {
	facts := map[string]string{"project_id": k.project, "key_name": k.key.Name, "owner_type": k.key.Owner.Type}
	if a := k.key.OwnerProjectAccess; a != "" {
		facts["owner_project_access"] = a
	}
	res := providers.RevokeResult{Action: "deleted", KeyID: k.key.ID, Facts: facts}
	var path string
	if sa := k.key.Owner.ServiceAccount; k.key.Owner.Type == "service_account" && sa != nil {
		facts["service_account_id"] = sa.ID
		path = "/v1/organization/projects/" + url.PathEscape(k.project) + "/service_accounts/" + url.PathEscape(sa.ID)
		res.Detail = fmt.Sprintf("deleted service account %s of project %s, and with it its key %s (a service account's key can only be revoked that way)", sa.ID, k.project, k.key.ID)
	} else {
		if u := k.key.Owner.User; u != nil {
			facts["owner_user_id"] = u.ID
		}
		path = "/v1/organization/projects/" + url.PathEscape(k.project) + "/api_keys/" + url.PathEscape(k.key.ID)
		res.Detail = fmt.Sprintf("deleted key %s of project %s", k.key.ID, k.project)
	}
	var out deleted
	status, err := c.admin(ctx, ak, http.MethodDelete, path, &out)
	if status == http.StatusNotFound {
		c.forget(k.key.ID)
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: k.key.ID, Facts: facts,
			Detail: "the key was deleted by someone else meanwhile"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	if !out.Deleted {
		return providers.RevokeResult{}, &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Retryable,
			Status: status, Message: "the delete was answered without deleted=true"}
	}
	c.forget(k.key.ID)
	c.log.WithField("key_id", k.key.ID).WithField("project_id", k.project).Debug("deleted")
	return res, nil
}

func (c *Client) revokeAdminKey(ctx context.Context, ak secret.Value, cred providers.Credential) (providers.RevokeResult, error) {
	var matches []adminKey
	after := ""
	for {
		var page list[adminKey]
		if _, err := c.admin(ctx, ak, http.MethodGet, "/v1/organization/admin_api_keys?"+c.pageQuery(after), &page); err != nil {
			return providers.RevokeResult{}, err
		}
		for _, k := range page.Data {
			if (cred.KeyID == "" || cred.KeyID == k.ID) && MatchRedacted(k.RedactedValue, cred.Secret) {
				matches = append(matches, k)
			}
		}
		next := nextCursor(page.HasMore, page.LastID, len(page.Data), func() string { return page.Data[len(page.Data)-1].ID })
		if next == "" || next == after {
			break
		}
		after = next
	}
	switch len(matches) {
	case 0:
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: cred.KeyID, Detail: "no admin key of the organization matches; it was already deleted"}, nil
	case 1:
	default:
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, fmt.Sprintf(
			"%d admin keys match the leaked key's redacted form; refusing to guess which one to delete", len(matches)))
	}
	k := matches[0]
	var out deleted
	status, err := c.admin(ctx, ak, http.MethodDelete, "/v1/organization/admin_api_keys/"+url.PathEscape(k.ID), &out)
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true, KeyID: k.ID, Detail: "the admin key was deleted meanwhile"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	return providers.RevokeResult{Action: "deleted", KeyID: k.ID, Detail: "deleted admin key " + k.ID,
		Facts: map[string]string{"key_kind": "admin", "key_name": k.Name}}, nil
}

// Plan implements providers.Provider: the calls op would make, without I/O.
// URLs carry {placeholders} for ids learnt along the way.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	u := c.api.URL
	switch op {
	case providers.OpVerify:
		if isAdminKey(cred.Secret) {
			return []providers.Call{{Method: http.MethodGet, URL: u("/v1/organization/admin_api_keys?limit=1"),
				Note: "authenticated with the leaked admin key " + hint + "; 200 means live, 401 means not"}}
		}
		return []providers.Call{{Method: http.MethodGet, URL: u("/v1/me"),
			Note: "authenticated with the leaked key " + hint + "; 200 means live, 401 invalid_api_key means not"}}
	case providers.OpRevoke:
	default:
		return nil
	}
	if c.adminKey == nil {
		return []providers.Call{{Note: "not possible: revoking an OpenAI key requires an admin key, and none is configured"}}
	}
	limit := strconv.Itoa(c.pageSize)
	if isAdminKey(cred.Secret) {
		return []providers.Call{
			{Method: http.MethodGet, URL: u("/v1/organization/admin_api_keys?limit=" + limit),
				Note: "with the configured admin key; every page (after=last_id while has_more); match redacted_value against " + hint},
			{Method: http.MethodDelete, URL: u("/v1/organization/admin_api_keys/{key_id}"), Note: "only if exactly one admin key matches"},
		}
	}
	var calls []providers.Call
	projectID, keyID, hasProject := strings.Cut(cred.KeyID, "/")
	switch {
	case cred.KeyID != "" && hasProject:
		calls = append(calls, providers.Call{Method: http.MethodGet,
			URL:  u("/v1/organization/projects/" + url.PathEscape(projectID) + "/api_keys/" + url.PathEscape(keyID)),
			Note: "with the configured admin key; its redacted_value must match " + hint})
	case cred.KeyID != "":
		calls = append(calls,
			providers.Call{Method: http.MethodGet, URL: u("/v1/organization/projects?limit=" + limit),
				Note: "with the configured admin key; active projects, every page"},
			providers.Call{Method: http.MethodGet, URL: u("/v1/organization/projects/{project_id}/api_keys/" + url.PathEscape(cred.KeyID)),
				Note: "in each project until found; its redacted_value must match " + hint})
		projectID = "{project_id}"
	default:
		calls = append(calls,
			providers.Call{Method: http.MethodGet, URL: u("/v1/organization/projects?limit=" + limit),
				Note: "with the configured admin key; active projects, every page (after=last_id while has_more)"},
			providers.Call{Method: http.MethodGet, URL: u("/v1/organization/projects/{project_id}/api_keys?limit=" + limit + "&owner_project_access=any"),
				Note: "for each project, every page, every enabled key (also those whose owner lost project access); match redacted_value against " + hint + "; more than one match stops here"})
		projectID, keyID = "{project_id}", "{key_id}"
	}
	calls = append(calls,
		providers.Call{Method: http.MethodDelete, URL: u("/v1/organization/projects/" + projectID + "/api_keys/" + keyID),
			Note: "the single matching key, when a user owns it"},
		providers.Call{Method: http.MethodDelete, URL: u("/v1/organization/projects/" + projectID + "/service_accounts/{service_account_id}"),
			Note: "instead, when a service account owns the key: its key can only be revoked with it"})
	return calls
}
