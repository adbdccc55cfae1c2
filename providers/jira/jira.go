// Package jira is Firebreak's Jira Cloud client for ticket redaction: it reads
// an issue's summary and description and its comments, writes them back with
// a leaked secret replaced, and adds a comment saying what was done.
//
// HTTP shapes follow the Jira Cloud platform REST API v3
// (developer.atlassian.com/cloud/jira/platform/rest/v3):
//
//   - Basic auth with an Atlassian account's email and API token
//     ("Basic auth for REST APIs"): Authorization: Basic base64(email:token).
//   - Issues → "Get issue": GET /rest/api/3/issue/{issueIdOrKey}?fields=summary,description;
//     "Edit issue": PUT /rest/api/3/issue/{issueIdOrKey} {"fields":{…}} → 204.
//     In v3, description is an Atlassian Document Format document; summary is
//     a plain string.
//   - Issue comments → "Get comments" GET /rest/api/3/issue/{issueIdOrKey}/comment
//     ({"startAt","maxResults","total","comments":[…]}), "Get comment" GET
//     …/comment/{id}, "Update comment" PUT …/comment/{id} {"body": ADF} → 200,
//     "Add comment" POST …/comment {"body": ADF} → 201.
//   - Errors: {"errorMessages":[…],"errors":{"field":"message"}}; 401 without
//     valid credentials, 404 for an issue the account cannot see, 429 with
//     Retry-After when rate limited.
package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name names Jira in errors.
const Name = "jira"

// Op is the operation name in errors.
const Op providers.Op = "redact"

// Config configures a Client.
type Config struct {
	// BaseURL is the site, e.g. https://acme.atlassian.net.
	BaseURL string
	// Email is the Atlassian account the API token belongs to.
	Email string
	// APIToken resolves the account's API token at each request.
	APIToken   secret.Source
	HTTPClient *http.Client
}

// Client talks to one Jira Cloud site.
type Client struct {
	cfg Config
	api providers.API
}

// New returns a client; it fails on a malformed site URL or missing credentials.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jira: base_url %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Email == "" || cfg.APIToken == nil {
		return nil, errors.New("jira: email and api_token are required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, api: providers.API{Provider: Name, BaseURL: cfg.BaseURL, Client: cfg.HTTPClient, ErrorMessage: errorMessage}}, nil
}

// BrowseURL is the web link of an issue.
func (c *Client) BrowseURL(key string) string { return c.cfg.BaseURL + "/browse/" + key }

func errorMessage(status int, body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	msgs := append([]string(nil), e.ErrorMessages...)
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		msgs = append(msgs, k+": "+e.Errors[k])
	}
	if len(msgs) == 0 {
		return http.StatusText(status)
	}
	return strings.Join(msgs, "; ")
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	tok, err := c.cfg.APIToken.Secret(ctx)
	if err != nil {
		return 0, &providers.Error{Provider: Name, Op: Op, Class: providers.Permanent, Message: "jira api_token unavailable", Err: err}
	}
	cred := secret.New(c.cfg.Email + ":" + tok.Reveal())
	h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString(cred.Bytes())}}
	status, _, err := c.api.Do(ctx, providers.Request{Op: Op, Method: method, Path: path, Header: h, Body: body, Out: out, Scrub: tok})
	return status, err
}

func esc(s string) string { return url.PathEscape(s) }

// IssueText is what redaction reads of an issue.
type IssueText struct {
	Key         string
	Summary     string
	Description json.RawMessage // ADF, or null
}

// GetIssue reads an issue's summary and description.
func (c *Client) GetIssue(ctx context.Context, key string) (IssueText, error) {
	var out struct {
		Key    string `json:"key"`
		Fields struct {
			Summary     string          `json:"summary"`
			Description json.RawMessage `json:"description"`
		} `json:"fields"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/rest/api/3/issue/"+esc(key)+"?fields=summary,description", nil, &out); err != nil {
		return IssueText{}, err
	}
	return IssueText{Key: out.Key, Summary: out.Fields.Summary, Description: out.Fields.Description}, nil
}

// SetSummary replaces an issue's summary.
func (c *Client) SetSummary(ctx context.Context, key, summary string) error {
	_, err := c.do(ctx, http.MethodPut, "/rest/api/3/issue/"+esc(key), map[string]any{"fields": map[string]any{"summary": summary}}, nil)
	return err
}

// SetDescription replaces an issue's description (ADF).
func (c *Client) SetDescription(ctx context.Context, key string, doc json.RawMessage) error {
	_, err := c.do(ctx, http.MethodPut, "/rest/api/3/issue/"+esc(key), map[string]any{"fields": map[string]any{"description": doc}}, nil)
	return err
}

// GetComment returns a comment's body (ADF).
func (c *Client) GetComment(ctx context.Context, key, id string) (json.RawMessage, error) {
	var out struct {
		Body json.RawMessage `json:"body"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/rest/api/3/issue/"+esc(key)+"/comment/"+esc(id), nil, &out); err != nil {
		return nil, err
	}
	return out.Body, nil
}

// UpdateComment replaces a comment's body (ADF).
func (c *Client) UpdateComment(ctx context.Context, key, id string, doc json.RawMessage) error {
	_, err := c.do(ctx, http.MethodPut, "/rest/api/3/issue/"+esc(key)+"/comment/"+esc(id), map[string]any{"body": doc}, nil)
	return err
}

// AddComment adds a comment (ADF) and returns its id.
func (c *Client) AddComment(ctx context.Context, key string, doc json.RawMessage) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/rest/api/3/issue/"+esc(key)+"/comment", map[string]any{"body": doc}, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// CommentBodies lists the bodies (ADF) of an issue's comments, following
// startAt pagination up to 1000 comments.
func (c *Client) CommentBodies(ctx context.Context, key string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for start := 0; start < 1000; {
		var page struct {
			StartAt  int `json:"startAt"`
			Total    int `json:"total"`
			Comments []struct {
				Body json.RawMessage `json:"body"`
			} `json:"comments"`
		}
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/rest/api/3/issue/%s/comment?startAt=%d&maxResults=100", esc(key), start), nil, &page); err != nil {
			return nil, err
		}
		for _, cm := range page.Comments {
			all = append(all, cm.Body)
		}
		start += len(page.Comments)
		if len(page.Comments) == 0 || start >= page.Total {
			break
		}
	}
	return all, nil
}
