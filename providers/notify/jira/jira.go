// Package jira files an incident as a Jira Cloud issue in a configured
// project, through the REST API v3
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
//
//   - POST /rest/api/3/issue {"fields":{"project":{"key"},"summary",
//     "issuetype":{"name"},"labels","description": an Atlassian Document
//     Format doc}} → 201 {"id","key","self"}.
//   - GET /rest/api/3/search/jql?jql=…&fields=summary → {"issues":[{"id",
//     "key"}],"isLast"}: one issue per incident — each issue is labelled
//     "firebreak" and "firebreak-<incident>", and a later notification about
//     the same incident becomes a comment, POST
//     /rest/api/3/issue/{key}/comment {"body": ADF}.
//
// Authentication is Basic with the account's email and an API token. Errors
// are {"errorMessages":[…],"errors":{field: message}}; 429 (with
// Retry-After) and 5xx are retryable, other 4xx permanent.
package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name (notify.jira).
const Name = "jira"

// Config configures a Notifier.
type Config struct {
	BaseURL    string        // https://your-domain.atlassian.net
	Email      string        // the account the API token belongs to
	APIToken   secret.Source // an Atlassian API token
	Project    string        // default project key, e.g. "SEC"
	IssueType  string        // "Task" when empty
	Labels     []string      // added to "firebreak"
	HTTPClient *http.Client
}

// Notifier files Jira issues.
type Notifier struct {
	cfg Config
	api providers.API
}

var _ notify.Notifier = (*Notifier)(nil)

var projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.BaseURL == "" || cfg.Email == "" || cfg.APIToken == nil {
		return nil, errors.New("jira: base_url, email and api_token are required")
	}
	if cfg.Project != "" && !projectKey.MatchString(cfg.Project) {
		return nil, fmt.Errorf("jira: project %q is not a project key (e.g. SEC)", cfg.Project)
	}
	if cfg.IssueType == "" {
		cfg.IssueType = "Task"
	}
	return &Notifier{cfg: cfg, api: providers.API{Provider: Name, BaseURL: strings.TrimRight(cfg.BaseURL, "/"), Client: cfg.HTTPClient,
		ErrorMessage: errorMessage}}, nil
}

func errorMessage(status int, body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return http.StatusText(status)
	}
	parts := append([]string(nil), e.ErrorMessages...)
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+e.Errors[k])
	}
	if len(parts) == 0 {
		return http.StatusText(status)
	}
	return strings.Join(parts, "; ")
}

// ADF renders m as an Atlassian Document Format document.
func ADF(m notify.Message) map[string]any {
	para := func(s string) map[string]any {
		return map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": s}}}
	}
	content := []any{para(m.Text)}
	var rows []string
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, k+": "+v)
		}
	}
	add("Incident", m.Incident)
	add("Provider", m.Provider)
	add("Secret type", m.SecretType)
	add("Key", m.Redacted)
	add("Severity", m.Severity)
	add("State", m.State)
	add("Where", m.Where)
	add("Link", m.WhereURL)
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, m.Fields[k])
	}
	var items []any
	for _, r := range append(rows, m.Actions...) {
		items = append(items, map[string]any{"type": "listItem", "content": []any{para(r)}})
	}
	if len(items) > 0 {
		content = append(content, map[string]any{"type": "bulletList", "content": items})
	}
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

func incidentLabel(id string) string {
	return "firebreak-" + strings.Map(func(r rune) rune {
		if r == ' ' {
			return '_'
		}
		return r
	}, id)
}

// Notify files m in m.Channel's project (a project key) or the default.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	project := n.cfg.Project
	if c := strings.TrimSpace(m.Channel); c != "" {
		project = c
	}
	if !projectKey.MatchString(project) {
		return false, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: providers.Permanent, Message: fmt.Sprintf("no project to file in (%q is not a project key)", project)}
	}
	if m.Incident == "" {
		return false, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: providers.Permanent, Message: "an issue needs the incident id"}
	}
	tok, err := n.cfg.APIToken.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "API token", err)
		return pe.Class == providers.Retryable, pe
	}
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(n.cfg.Email+":"+strings.TrimSpace(tok.Reveal())))}}
	call := func(method, path string, body, out any) error {
		_, _, err := n.api.Do(ctx, providers.Request{Op: notify.OpNotify, Method: method, Path: path, Header: auth, Scrub: tok, Body: body, Out: out})
		return err
	}
	label := incidentLabel(m.Incident)
	jql := fmt.Sprintf(`project = %s AND labels = "%s" ORDER BY created DESC`, project, label)
	var found struct {
		Issues []struct {
			Key string `json:"key"`
		} `json:"issues"`
	}
	if err := call(http.MethodGet, "/rest/api/3/search/jql?fields=summary&maxResults=1&jql="+url.QueryEscape(jql), nil, &found); err != nil {
		return retry(err), err
	}
	if len(found.Issues) > 0 {
		err := call(http.MethodPost, "/rest/api/3/issue/"+url.PathEscape(found.Issues[0].Key)+"/comment", map[string]any{"body": ADF(m)}, nil)
		return retry(err), err
	}
	summary := m.Title
	if summary == "" {
		summary = "Firebreak incident " + m.Incident
	}
	if len(summary) > 250 {
		summary = summary[:250]
	}
	fields := map[string]any{
		"project": map[string]string{"key": project}, "summary": summary, "issuetype": map[string]string{"name": n.cfg.IssueType},
		"labels": append([]string{"firebreak", label}, n.cfg.Labels...), "description": ADF(m),
	}
	err = call(http.MethodPost, "/rest/api/3/issue", map[string]any{"fields": fields}, nil)
	return retry(err), err
}

func retry(err error) bool {
	class, _ := providers.Classify(err)
	return err != nil && class == providers.Retryable
}
