// Package githubissue files an incident as a GitHub issue in a configured
// repository (Issues → "Create an issue": POST /repos/{owner}/{repo}/issues
// {"title","body","labels","assignees"}, 201), one issue per incident: the
// body carries a hidden marker <!-- firebreak:incident=ID -->, and when an
// open issue labelled "firebreak" already carries the incident's marker
// (GET /repos/{owner}/{repo}/issues?labels=firebreak&state=open), a later
// notification is added as a comment (POST …/issues/{number}/comments)
// instead of a second issue.
//
// Requests use "Authorization: Bearer <token>" (a token with issues:write),
// "Accept: application/vnd.github+json" and "X-GitHub-Api-Version:
// 2022-11-28". Failures: 403/429 with X-RateLimit-Remaining: 0 or
// Retry-After, and 5xx, are retryable; 401, 403, 404 (no such repository, or
// no access), 410 (issues disabled) and 422 (validation) are permanent.
package githubissue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name (notify.github_issue).
const Name = "github_issue"

// Label marks Firebreak's issues.
const Label = "firebreak"

// Config configures a Notifier.
type Config struct {
	BaseURL    string        // https://api.github.com when empty
	Token      secret.Source // issues:write on the repository
	Repo       string        // default "owner/repo"
	Labels     []string      // added to Label
	Assignees  []string
	HTTPClient *http.Client
}

// Notifier files GitHub issues.
type Notifier struct {
	cfg Config
	api providers.API
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Token == nil {
		return nil, errors.New("github_issue: token is required")
	}
	if cfg.Repo != "" && !validRepo(cfg.Repo) {
		return nil, fmt.Errorf("github_issue: repo %q is not owner/name", cfg.Repo)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.github.com"
	}
	return &Notifier{cfg: cfg, api: providers.API{Provider: Name, BaseURL: strings.TrimRight(cfg.BaseURL, "/"), Client: cfg.HTTPClient,
		ErrorMessage: func(status int, body []byte) string {
			var e struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(body, &e) == nil && e.Message != "" {
				return e.Message
			}
			return http.StatusText(status)
		},
		Header: func(h http.Header) {
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
		},
		AdjustError: func(resp *http.Response, _ []byte, e *providers.Error) {
			if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) &&
				(resp.Header.Get("X-RateLimit-Remaining") == "0" || e.RetryAfter > 0) {
				e.Class = providers.Retryable
				if e.RetryAfter == 0 {
					e.RetryAfter = time.Minute
				}
			}
		}}}, nil
}

func validRepo(s string) bool {
	o, r, ok := strings.Cut(s, "/")
	return ok && o != "" && r != "" && !strings.Contains(r, "/")
}

func marker(incident string) string { return "<!-- firebreak:incident=" + incident + " -->" }

// Body renders the issue body (Markdown) for m.
func Body(m notify.Message) string {
	var b strings.Builder
	b.WriteString(m.Text + "\n\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, strings.ReplaceAll(v, "|", "\\|"))
		}
	}
	b.WriteString("| | |\n|---|---|\n")
	row("Incident", "`"+m.Incident+"`")
	row("Provider", m.Provider)
	row("Secret type", m.SecretType)
	row("Key", "`"+m.Redacted+"`")
	row("Severity", m.Severity)
	row("State", m.State)
	if m.WhereURL != "" {
		row("Where", "["+m.Where+"]("+m.WhereURL+")")
	} else {
		row("Where", m.Where)
	}
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row(k, m.Fields[k])
	}
	if len(m.Actions) > 0 {
		b.WriteString("\n**What Firebreak did**\n\n")
		for _, a := range m.Actions {
			b.WriteString("- " + a + "\n")
		}
	}
	b.WriteString("\n" + marker(m.Incident) + "\n")
	return b.String()
}

func (n *Notifier) call(ctx context.Context, tok secret.Value, method, path string, body, out any) error {
	_, _, err := n.api.Do(ctx, providers.Request{Op: notify.OpNotify, Method: method, Path: path,
		Header: http.Header{"Authorization": {"Bearer " + strings.TrimSpace(tok.Reveal())}}, Scrub: tok, Body: body, Out: out})
	return err
}

// Notify files m (m.Channel may name another "owner/repo").
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	repo := n.cfg.Repo
	if c := strings.TrimSpace(m.Channel); c != "" {
		repo = c
	}
	if !validRepo(repo) {
		return false, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: providers.Permanent, Message: fmt.Sprintf("no repository to file in (%q is not owner/name)", repo)}
	}
	if m.Incident == "" {
		return false, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: providers.Permanent, Message: "an issue needs the incident id"}
	}
	tok, err := n.cfg.Token.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "token", err)
		return pe.Class == providers.Retryable, pe
	}
	owner, name, _ := strings.Cut(repo, "/")
	base := "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/issues"
	var open []struct {
		Number int    `json:"number"`
		Body   string `json:"body"`
	}
	if err := n.call(ctx, tok, http.MethodGet, base+"?state=open&per_page=100&labels="+url.QueryEscape(Label), nil, &open); err != nil {
		return retry(err), err
	}
	for _, is := range open {
		if strings.Contains(is.Body, marker(m.Incident)) {
			err := n.call(ctx, tok, http.MethodPost, fmt.Sprintf("%s/%d/comments", base, is.Number), map[string]string{"body": Body(m)}, nil)
			return retry(err), err
		}
	}
	title := m.Title
	if title == "" {
		title = "Firebreak incident " + m.Incident
	}
	in := map[string]any{"title": title, "body": Body(m), "labels": append([]string{Label}, n.cfg.Labels...)}
	if len(n.cfg.Assignees) > 0 {
		in["assignees"] = n.cfg.Assignees
	}
	err = n.call(ctx, tok, http.MethodPost, base, in, nil)
	return retry(err), err
}

func retry(err error) bool {
	class, _ := providers.Classify(err)
	return err != nil && class == providers.Retryable
}
