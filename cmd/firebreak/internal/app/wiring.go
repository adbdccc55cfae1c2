package app

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/slack"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook"
	"github.com/firebreak-sec/firebreak/providers/openai"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// buildProviders constructs every provider client. A provider without the
// credentials it needs (or with dry_run set) is registered in dry-run: its
// steps record the calls they would make. Each provider sends its requests
// through hc, bounded by its providers.<name>.max_concurrency.
func buildProviders(cfg *config.Config, rs secret.Resolvers, hc *http.Client, log logrus.FieldLogger) (*actions.Providers, error) {
	ps := actions.NewProviders()
	limits := cfg.ProviderLimits()
	client := func(name string) *http.Client { return providers.LimitClient(hc, name, limits[name]) }

	oc := openai.Config{BaseURL: cfg.Providers.OpenAI.BaseURL, HTTPClient: client("openai"), Logger: log}
	dry := ""
	switch {
	case cfg.Providers.OpenAI.DryRun:
		dry = "providers.openai.dry_run is set"
	case cfg.Providers.OpenAI.AdminKey.IsZero():
		dry = "providers.openai.admin_key is not set"
	default:
		src, err := rs.Source(cfg.Providers.OpenAI.AdminKey)
		if err != nil {
			return nil, fmt.Errorf("providers.openai.admin_key: %w", err)
		}
		oc.AdminKey = src
	}
	ps.Add(openai.New(oc), dry)

	gc := github.Config{BaseURL: cfg.Providers.GitHub.BaseURL, HTTPClient: client("github"), Logger: log,
		BatchWindow: cfg.Providers.GitHub.BatchWindow.D(), RevokeLimit: cfg.Providers.GitHub.RevokePerHour}
	dry = ""
	if cfg.Providers.GitHub.DryRun {
		dry = "providers.github.dry_run is set"
	}
	ps.Add(github.New(gc), dry)
	if err := addBreadthProviders(ps, cfg, rs, client); err != nil {
		return nil, err
	}
	return ps, nil
}

// buildActions constructs the step actions with their providers and notifiers.
func buildActions(cfg *config.Config, ps *actions.Providers, rs secret.Resolvers, hc *http.Client) ([]step.Action, error) {
	slacks := map[string]notify.Notifier{}
	for _, name := range sortedKeys(cfg.Notifiers.Slack) {
		s := cfg.Notifiers.Slack[name]
		src, err := rs.Source(s.WebhookURL)
		if err != nil {
			return nil, fmt.Errorf("notifiers.slack.%s.webhook_url: %w", name, err)
		}
		n, err := slack.New(slack.Config{WebhookURL: src, HTTPClient: hc, Username: s.Username, DefaultChannel: s.Channel})
		if err != nil {
			return nil, fmt.Errorf("notifiers.slack.%s: %w", name, err)
		}
		slacks[name] = n
	}
	hooks := map[string]notify.Notifier{}
	for _, name := range sortedKeys(cfg.Notifiers.Webhook) {
		w := cfg.Notifiers.Webhook[name]
		src, err := rs.Source(w.Secret)
		if err != nil {
			return nil, fmt.Errorf("notifiers.webhook.%s.secret: %w", name, err)
		}
		n, err := webhook.New(webhook.Config{URL: w.URL, Secret: src, HTTPClient: hc, Headers: w.Headers})
		if err != nil {
			return nil, fmt.Errorf("notifiers.webhook.%s: %w", name, err)
		}
		hooks[name] = n
	}
	var incidentURL func(string) string
	if cfg.HTTP.PublicURL != "" {
		base := trimURL(cfg.HTTP.PublicURL)
		incidentURL = func(id string) string { return base + "/v1/incidents/" + id }
	}
	more, err := breadthNotifyActions(cfg, rs, hc, incidentURL)
	if err != nil {
		return nil, err
	}
	return append([]step.Action{
		actions.Verify{Providers: ps},
		actions.Revoke{Providers: ps},
		actions.Notify{Kind: "slack", Notifiers: slacks, IncidentURL: incidentURL},
		actions.Notify{Kind: "webhook", Notifiers: hooks, IncidentURL: incidentURL},
	}, more...), nil
}

// LintActions are the actions with empty registries: what `playbook lint`
// validates against, the same specs serve uses.
func LintActions() []step.Action {
	cfg := &config.Config{}
	cfg.Defaults()
	ps, _ := buildProviders(cfg, secret.Resolvers{}, http.DefaultClient, logrus.New())
	acts, _ := buildActions(cfg, ps, secret.Resolvers{}, http.DefaultClient)
	acts = append(acts, actions.VaultActions(&actions.Vault{Providers: ps})...)
	acts = append(acts, writebackActions(cfg, nil)...)
	return append(acts, actions.Approval{}) // uses: approval (issue 7)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// alertFetcher adapts github.AlertSource to the responder's AlertFetcher.
type alertFetcher struct{ src *github.AlertSource }

func (f alertFetcher) FetchAlert(ctx context.Context, owner, repo string, number int64) (responders.Alert, error) {
	// The alert and its locations are fetched at once: both sit on the path
	// to revocation.
	type locsResult struct {
		locs []github.Location
		err  error
	}
	lc := make(chan locsResult, 1)
	go func() {
		locs, err := f.src.Locations(ctx, owner, repo, number)
		lc <- locsResult{locs, err}
	}()
	a, err := f.src.GetAlert(ctx, owner, repo, number)
	lr := <-lc
	if err != nil {
		return responders.Alert{}, err
	}
	if lr.err != nil {
		return responders.Alert{}, lr.err
	}
	out := responders.Alert{Secret: a.Secret, SecretType: a.SecretType, State: a.State, Resolution: a.Resolution, HTMLURL: a.HTMLURL}
	if len(lr.locs) > 0 {
		out.Location = a.ExposureLocation(lr.locs[0])
	}
	return out, nil
}
