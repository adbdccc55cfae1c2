package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/jira"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/step"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// Wiring of issue 4: GitHub App authentication, the alert poller, the
// partner-program endpoint, ticket ingest (Jira, GitHub issues, generic) and
// the write-back/redaction steps.

// ghDepth holds what that wiring built.
type ghDepth struct {
	alerts   *github.AlertSource // nil without github.token or github.app
	appToken *github.AppTokenSource
	jira     *jira.Client
	poller   *ghingest.Poller // nil without GitHub auth
	ledger   *ghingest.Ledger
	tickets  *tickets.Scanner
	partner  http.Handler
	jiraH    http.Handler
	generic  http.Handler
}

// githubAuth returns the token source for GitHub's API: the App's
// installation tokens, the configured token, or nil.
func githubAuth(cfg *config.Config, rs secret.Resolvers, hc *http.Client) (secret.Source, *github.AppTokenSource, error) {
	if cfg.GitHub.App.Configured() {
		key, err := rs.Source(cfg.GitHub.App.PrivateKey)
		if err != nil {
			return nil, nil, fmt.Errorf("github.app.private_key: %w", err)
		}
		src, err := github.NewAppTokenSource(github.AppConfig{AppID: cfg.GitHub.App.AppID, InstallationID: cfg.GitHub.App.InstallationID,
			PrivateKey: key, BaseURL: cfg.GitHub.APIURL, HTTPClient: hc})
		if err != nil {
			return nil, nil, err
		}
		return src, src, nil
	}
	if cfg.GitHub.Token.IsZero() {
		return nil, nil, nil
	}
	tok, err := rs.Source(cfg.GitHub.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("github.token: %w", err)
	}
	return tok, nil, nil
}

// buildGHClients builds the GitHub alert source and the Jira client.
func buildGHClients(cfg *config.Config, rs secret.Resolvers, hc *http.Client) (*ghDepth, error) {
	d := &ghDepth{}
	tok, app, err := githubAuth(cfg, rs, hc)
	if err != nil {
		return nil, err
	}
	d.appToken = app
	if tok != nil {
		if d.alerts, err = github.NewAlertSource(github.AlertSourceConfig{BaseURL: cfg.GitHub.APIURL, Token: tok, HTTPClient: hc}); err != nil {
			return nil, fmt.Errorf("github.api_url: %w", err)
		}
	}
	if cfg.Jira.JiraClient() {
		t, err := rs.Source(cfg.Jira.APIToken)
		if err != nil {
			return nil, fmt.Errorf("jira.api_token: %w", err)
		}
		if d.jira, err = jira.New(jira.Config{BaseURL: cfg.Jira.BaseURL, Email: cfg.Jira.Email, APIToken: t, HTTPClient: hc}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// writebackActions are the write-back and redaction steps.
func writebackActions(cfg *config.Config, d *ghDepth) []step.Action {
	if d == nil {
		d = &ghDepth{}
	}
	return []step.Action{
		actions.ResolveAlert{GitHub: d.alerts, BaseURL: cfg.GitHub.APIURL},
		actions.RedactGitHub{GitHub: d.alerts, BaseURL: cfg.GitHub.APIURL},
		actions.RedactJira{Jira: d.jira, BaseURL: cfg.Jira.BaseURL},
	}
}

// buildGHIngest builds the poller, the partner, Jira and generic ticket
// handlers, and returns the Tickets scanner and alert ledger the GitHub
// webhook handler uses.
func (a *App) buildGHIngest(ctx context.Context, d *ghDepth, rs secret.Resolvers, hc *http.Client, m *web.Metrics) error {
	cfg, log := a.Cfg, a.Log.WithField("component", "ingest")
	kv, err := ghingest.EnsureState(ctx, a.JS, a.topology())
	if err != nil {
		return err
	}
	d.ledger = &ghingest.Ledger{KV: kv}
	det := detect.New()
	seal := &sealer.Sealer{Keyring: a.Keyring}
	if cfg.GitHub.IssuesScanned() {
		d.tickets = &tickets.Scanner{Detector: det, Sealer: seal, Published: m.Exposures}
	}
	if d.alerts != nil {
		since, _ := config.PollSince(cfg.GitHub.Poll.Since)
		d.poller = ghingest.NewPoller(ghingest.PollerConfig{
			Scopes: PollScopes(cfg.GitHub.Poll.Repos, cfg.GitHub.Poll.Orgs, cfg.GitHub.Poll.Enterprises), Since: since,
			PerPage: cfg.GitHub.Poll.PerPage, MaxWait: cfg.GitHub.Poll.MaxWait.D(), Interval: cfg.GitHub.Poll.Interval.D(),
		}, alertLister{d.alerts}, countingPublisher{a.Publisher, m.Exposures}, d.ledger, a.Log.WithField("component", "github-poller"))
	}
	timeout := cfg.HTTP.IngestTimeout.D()
	if cfg.GitHub.Partner.Enabled {
		keysURL := cfg.GitHub.Partner.KeysURL
		if keysURL == "" {
			keysURL = strings.TrimRight(cfg.GitHub.APIURL, "/") + "/meta/public_keys/secret_scanning"
		}
		kc := &ghingest.KeyCache{URL: keysURL, HTTPClient: hc}
		if !cfg.GitHub.Partner.Token.IsZero() {
			if kc.Token, err = rs.Source(cfg.GitHub.Partner.Token); err != nil {
				return fmt.Errorf("github.partner.token: %w", err)
			}
		}
		types := map[string]ghingest.PartnerType{}
		for k, t := range cfg.GitHub.Partner.Types {
			types[k] = ghingest.PartnerType{Provider: t.Provider, Type: t.Type}
		}
		d.partner, err = ghingest.NewPartner(ghingest.PartnerConfig{Keys: kc, Sealer: seal, Detect: det, Types: types,
			MaxBody: cfg.HTTP.MaxBody, Timeout: max(timeout, 20*time.Second), Feedback: cfg.GitHub.Partner.Feedback,
			Verifier: providerVerifier{a.Providers}}, a.Publisher, log, m)
		if err != nil {
			return err
		}
		go func() {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := kc.Prime(pctx); err != nil {
				a.Log.WithError(err).Warn("GitHub partner keys not fetched at start; the first request will try again")
			}
		}()
	}
	ts := &tickets.Scanner{Detector: det, Sealer: seal, Published: m.Exposures}
	if !cfg.Jira.WebhookSecret.IsZero() || cfg.Jira.Unsigned {
		jc := tickets.JiraConfig{SiteURL: cfg.Jira.BaseURL, MaxBody: cfg.HTTP.MaxBody, Timeout: timeout, Projects: map[string]tickets.ProjectHint{}}
		if !cfg.Jira.WebhookSecret.IsZero() {
			if jc.Secret, err = rs.Source(cfg.Jira.WebhookSecret); err != nil {
				return fmt.Errorf("jira.webhook_secret: %w", err)
			}
		} else {
			a.Log.Warn("jira.unsigned is set: Jira webhooks are accepted without a signature")
		}
		for k, p := range cfg.Jira.Projects {
			jc.Projects[k] = tickets.ProjectHint{Environment: p.Environment, Owner: p.Owner}
		}
		d.jiraH = tickets.NewJira(jc, ts, a.Publisher, log, m)
	}
	if !cfg.Tickets.Token.IsZero() {
		tok, err := rs.Source(cfg.Tickets.Token)
		if err != nil {
			return fmt.Errorf("tickets.token: %w", err)
		}
		if d.generic, err = tickets.NewGeneric(tickets.GenericConfig{Token: tok, MaxBody: cfg.HTTP.MaxBody, Timeout: timeout}, ts, a.Publisher, log, m); err != nil {
			return err
		}
	}
	return nil
}

// PollScopes turns configured names into poller scopes.
func PollScopes(repos, orgs, enterprises []string) []ghingest.Scope {
	var out []ghingest.Scope
	for _, r := range repos {
		out = append(out, ghingest.Scope{Kind: github.ScopeRepo, Name: r})
	}
	for _, o := range orgs {
		out = append(out, ghingest.Scope{Kind: github.ScopeOrg, Name: o})
	}
	for _, e := range enterprises {
		out = append(out, ghingest.Scope{Kind: github.ScopeEnterprise, Name: e})
	}
	return out
}

// alertLister adapts github.AlertSource to the poller.
type alertLister struct{ src *github.AlertSource }

func (l alertLister) ListAlerts(ctx context.Context, s ghingest.Scope, cur ghingest.Cursor, perPage int) (ghingest.Page, error) {
	p, err := l.src.ListAlerts(ctx, github.Scope{Kind: s.Kind, Name: s.Name}, github.Cursor{Page: cur.Page, After: cur.After}, perPage)
	if err != nil {
		var pe *providers.Error
		if errors.As(err, &pe) && pe.Class == providers.Retryable && (pe.Status == http.StatusForbidden || pe.Status == http.StatusTooManyRequests) {
			return ghingest.Page{}, &ghingest.RateLimitError{Wait: pe.RetryAfter, Secondary: !strings.Contains(pe.Message, "primary"), Err: err}
		}
		return ghingest.Page{}, err
	}
	out := ghingest.Page{Next: ghingest.Cursor{Page: p.Next.Page, After: p.Next.After}, Done: p.Done, Remaining: p.Remaining, Reset: p.Reset}
	for _, a := range p.Alerts {
		out.Alerts = append(out.Alerts, ghingest.ListedAlert{Repo: a.Repo, Number: a.Number, State: a.State, SecretType: a.SecretType,
			HTMLURL: a.HTMLURL, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
	}
	return out, nil
}

// providerVerifier verifies partner tokens with the configured providers,
// for false-positive feedback.
type providerVerifier struct{ ps *actions.Providers }

func (v providerVerifier) Verify(ctx context.Context, provider, secretType string, s secret.Value) (bool, bool, error) {
	if v.ps == nil {
		return false, false, nil
	}
	p, dry, ok := v.ps.Get(provider)
	if !ok || dry != "" || !p.Spec().Verify {
		return false, false, nil
	}
	res, err := p.Verify(ctx, providers.Credential{Provider: provider, Type: secretType, Secret: s})
	if err != nil {
		return false, false, providers.ScrubError(err, s)
	}
	return res.Live, true, nil
}

// BackfillRequest is the control API's POST /v1/github/backfill body.
type BackfillRequest struct {
	Repos       []string `json:"repos"`
	Orgs        []string `json:"orgs"`
	Enterprises []string `json:"enterprises"`
	Since       string   `json:"since"`
}

// Backfill runs one backfill pass (the control API and `firebreak github
// backfill` use it); nil scopes mean the configured ones.
func (a *App) Backfill(ctx context.Context, r BackfillRequest) (ghingest.Stats, error) {
	if a.gh == nil || a.gh.poller == nil {
		return ghingest.Stats{}, errors.New("GitHub is not configured: set github.token or github.app")
	}
	scopes := PollScopes(r.Repos, r.Orgs, r.Enterprises)
	for _, s := range scopes {
		if err := (github.Scope{Kind: s.Kind, Name: s.Name}).Validate(); err != nil {
			return ghingest.Stats{}, err
		}
	}
	if scopes == nil {
		scopes = PollScopes(a.Cfg.GitHub.Poll.Repos, a.Cfg.GitHub.Poll.Orgs, a.Cfg.GitHub.Poll.Enterprises)
	}
	if len(scopes) == 0 {
		return ghingest.Stats{}, errors.New("no repository, organization or enterprise to backfill")
	}
	since, err := config.PollSince(r.Since)
	if err != nil {
		return ghingest.Stats{}, fmt.Errorf("since: %w", err)
	}
	if r.Since == "" {
		since, _ = config.PollSince(a.Cfg.GitHub.Poll.Since)
	}
	return a.gh.poller.Backfill(ctx, scopes, since)
}

func notConfigured(msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, http.StatusNotFound, msg)
	})
}

// ghDepthRoutes mounts the partner, Jira and generic ticket routes and the
// control API's backfill.
func (a *App) ghDepthRoutes(mux *http.ServeMux) {
	d := a.gh
	if d == nil {
		d = &ghDepth{}
	}
	h := d.partner
	if h == nil {
		h = notConfigured("the GitHub partner endpoint is off: set github.partner.enabled")
	}
	mux.Handle("/v1/ingest/github/partner", h)
	h = d.jiraH
	if h == nil {
		h = notConfigured("Jira ingest is off: set jira.webhook_secret (or jira.unsigned: true)")
	}
	mux.Handle("/v1/ingest/jira", h)
	h = d.generic
	if h == nil {
		h = notConfigured("ticket ingest is off: set tickets.token")
	}
	mux.Handle("/v1/ingest/tickets", h)
	mux.Handle("POST /v1/github/backfill", a.scoped(tokens.Admin, "github.backfill", a.serveBackfill))
}

func (a *App) serveBackfill(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	var req BackfillRequest
	if r.ContentLength != 0 {
		body, err := web.ReadBody(w, r, 1<<20)
		if err != nil {
			web.BodyError(w, err, 1<<20)
			return
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := jsonUnmarshalStrict(body, &req); err != nil {
				web.Error(w, http.StatusBadRequest, err.Error())
				return
			}
		}
	}
	st, err := a.Backfill(r.Context(), req)
	if err != nil && st.Scopes == 0 {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	out := map[string]any{"stats": st}
	if err != nil {
		out["error"] = err.Error()
		web.JSON(w, http.StatusBadGateway, out)
		return
	}
	web.JSON(w, http.StatusOK, out)
}
