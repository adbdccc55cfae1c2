package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// PollSince parses github.poll.since (YYYY-MM-DD or RFC 3339); zero when empty.
func PollSince(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be a date (2026-11-01) or an RFC 3339 time, got %q", s)
	}
	return t, nil
}

// IssuesScanned reports whether issues and issue_comment webhooks are scanned.
func (g GitHub) IssuesScanned() bool { return g.ScanIssues == nil || *g.ScanIssues }

// GitHubAuth reports whether Firebreak can call GitHub's API (a token or an App).
func (g GitHub) GitHubAuth() bool { return !g.Token.IsZero() || g.App.Configured() }

// JiraClient reports whether the Jira REST client is configured.
func (j Jira) JiraClient() bool { return j.BaseURL != "" || j.Email != "" || !j.APIToken.IsZero() }

// validateGHDepth checks the GitHub App, poller, partner, Jira and tickets settings.
func (c *Config) validateGHDepth(bad func(path, format string, args ...any), ref func(string, secret.Ref, bool), httpURL func(string, string, bool)) {
	g := c.GitHub
	if g.App.Configured() {
		if strings.TrimSpace(g.App.AppID) == "" {
			bad("github.app.app_id", "is required with a GitHub App (its numeric ID or client ID)")
		}
		if g.App.InstallationID <= 0 {
			bad("github.app.installation_id", "is required with a GitHub App and must be positive, got %d", g.App.InstallationID)
		}
		ref("github.app.private_key", g.App.PrivateKey, true)
		if !g.Token.IsZero() {
			bad("github.token", "set github.token or github.app, not both")
		}
	}
	p := g.Poll
	for i, r := range p.Repos {
		o, n, ok := strings.Cut(r, "/")
		if !ok || o == "" || n == "" || strings.Contains(n, "/") {
			bad(fmt.Sprintf("github.poll.repos[%d]", i), "must be owner/name, got %q", r)
		}
	}
	for i, o := range p.Orgs {
		if o == "" || strings.ContainsAny(o, "/ ") {
			bad(fmt.Sprintf("github.poll.orgs[%d]", i), "must be an organization login, got %q", o)
		}
	}
	for i, o := range p.Enterprises {
		if o == "" || strings.ContainsAny(o, "/ ") {
			bad(fmt.Sprintf("github.poll.enterprises[%d]", i), "must be an enterprise slug, got %q", o)
		}
	}
	if _, err := PollSince(p.Since); err != nil {
		bad("github.poll.since", "%v", err)
	}
	if p.Interval.D() < 0 || (p.Interval.D() > 0 && p.Interval.D() < 30*time.Second) {
		bad("github.poll.interval", "must be 0 (off) or at least 30s, got %s", p.Interval.D())
	}
	scopes := len(p.Repos) + len(p.Orgs) + len(p.Enterprises)
	if p.Interval.D() > 0 && scopes == 0 {
		bad("github.poll.interval", "polling needs github.poll.repos, orgs or enterprises")
	}
	if p.Interval.D() > 0 && !g.GitHubAuth() {
		bad("github.poll.interval", "polling needs github.token or github.app")
	}
	if p.PerPage < 0 || p.PerPage > 100 {
		bad("github.poll.per_page", "must be between 1 and 100, got %d", p.PerPage)
	}
	if g.Partner.KeysURL != "" {
		httpURL("github.partner.keys_url", g.Partner.KeysURL, false)
	}
	ref("github.partner.token", g.Partner.Token, false)
	for name, t := range g.Partner.Types {
		if t.Provider == "" || t.Type == "" {
			bad("github.partner.types."+name, "needs provider and type")
		}
	}
	j := c.Jira
	if j.JiraClient() {
		httpURL("jira.base_url", j.BaseURL, true)
		if j.Email == "" {
			bad("jira.email", "is required with jira.base_url (the account of the API token)")
		}
		ref("jira.api_token", j.APIToken, true)
	}
	ref("jira.webhook_secret", j.WebhookSecret, false)
	if j.Unsigned && !j.WebhookSecret.IsZero() {
		bad("jira.unsigned", "contradicts jira.webhook_secret: signed webhooks are verified")
	}
	for key, pr := range j.Projects {
		switch pr.Environment {
		case "", "prod", "staging", "dev":
		default:
			bad("jira.projects."+key+".environment", "must be prod, staging or dev, got %q", pr.Environment)
		}
	}
	ref("tickets.token", c.Tickets.Token, false)
}
