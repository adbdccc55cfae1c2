package app

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/anthropic"
	"github.com/firebreak-sec/firebreak/providers/aws"
	"github.com/firebreak-sec/firebreak/providers/google"
	"github.com/firebreak-sec/firebreak/providers/groq"
	"github.com/firebreak-sec/firebreak/providers/huggingface"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/email"
	"github.com/firebreak-sec/firebreak/providers/notify/githubissue"
	"github.com/firebreak-sec/firebreak/providers/notify/jira"
	"github.com/firebreak-sec/firebreak/providers/notify/pagerduty"
	"github.com/firebreak-sec/firebreak/providers/notify/slackbot"
	"github.com/firebreak-sec/firebreak/providers/notify/teams"
	"github.com/firebreak-sec/firebreak/providers/perplexity"
	"github.com/firebreak-sec/firebreak/providers/replicate"
	"github.com/firebreak-sec/firebreak/providers/slack"
	"github.com/firebreak-sec/firebreak/providers/stripe"
	"github.com/firebreak-sec/firebreak/providers/xai"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/owners"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// optionalSource resolves a reference that may be unset (nil Source).
func optionalSource(rs secret.Resolvers, path string, r secret.Ref) (secret.Source, error) {
	if r.IsZero() {
		return nil, nil
	}
	src, err := rs.Source(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}

func dryIf(set bool, name string) string {
	if set {
		return "providers." + name + ".dry_run is set"
	}
	return ""
}

// addBreadthProviders registers the providers beyond OpenAI and GitHub.
// They verify with the leaked key itself, so they run without any credential
// of Firebreak's; where revoking needs one (Anthropic admin key, AWS
// principal, Google access token) and none is configured, their revoke step
// escalates to a person instead of running in dry-run. client returns the
// HTTP client of the named provider.
func addBreadthProviders(ps *actions.Providers, cfg *config.Config, rs secret.Resolvers, client func(name string) *http.Client) error {
	p := cfg.Providers
	ak, err := optionalSource(rs, "providers.anthropic.admin_key", p.Anthropic.AdminKey)
	if err != nil {
		return err
	}
	ps.Add(anthropic.New(anthropic.Config{BaseURL: p.Anthropic.BaseURL, AdminKey: ak, HTTPClient: client("anthropic")}), dryIf(p.Anthropic.DryRun, "anthropic"))

	awsID, err := optionalSource(rs, "providers.aws.access_key_id", p.AWS.AccessKeyID)
	if err != nil {
		return err
	}
	awsSK, err := optionalSource(rs, "providers.aws.secret_access_key", p.AWS.SecretAccessKey)
	if err != nil {
		return err
	}
	awsTok, err := optionalSource(rs, "providers.aws.session_token", p.AWS.SessionToken)
	if err != nil {
		return err
	}
	ps.Add(aws.New(aws.Config{Endpoint: p.AWS.Endpoint, Region: p.AWS.Region, AccessKeyID: awsID, SecretAccessKey: awsSK,
		SessionToken: awsTok, HTTPClient: client("aws")}), dryIf(p.AWS.DryRun, "aws"))

	gt, err := optionalSource(rs, "providers.google.access_token", p.Google.AccessToken)
	if err != nil {
		return err
	}
	ps.Add(google.New(google.Config{GeminiURL: p.Google.GeminiURL, APIKeysURL: p.Google.APIKeysURL, AccessToken: gt, HTTPClient: client("google")}),
		dryIf(p.Google.DryRun, "google"))

	mk, err := optionalSource(rs, "providers.stripe.management_key", p.Stripe.ManagementKey)
	if err != nil {
		return err
	}
	ps.Add(stripe.New(stripe.Config{BaseURL: p.Stripe.BaseURL, ManagementKey: mk, APIVersion: p.Stripe.APIVersion, HTTPClient: client("stripe")}),
		dryIf(p.Stripe.DryRun, "stripe"))

	ps.Add(slack.New(slack.Config{BaseURL: p.Slack.BaseURL, HTTPClient: client("slack")}), dryIf(p.Slack.DryRun, "slack"))
	ps.Add(huggingface.New(huggingface.Config{BaseURL: p.HuggingFace.BaseURL, HTTPClient: client("huggingface")}), dryIf(p.HuggingFace.DryRun, "huggingface"))
	ps.Add(groq.New(groq.Config{BaseURL: p.Groq.BaseURL, HTTPClient: client("groq")}), dryIf(p.Groq.DryRun, "groq"))
	ps.Add(perplexity.New(perplexity.Config{BaseURL: p.Perplexity.BaseURL, HTTPClient: client("perplexity")}), dryIf(p.Perplexity.DryRun, "perplexity"))
	ps.Add(xai.New(xai.Config{BaseURL: p.XAI.BaseURL, HTTPClient: client("xai")}), dryIf(p.XAI.DryRun, "xai"))
	ps.Add(replicate.New(replicate.Config{BaseURL: p.Replicate.BaseURL, HTTPClient: client("replicate")}), dryIf(p.Replicate.DryRun, "replicate"))
	return nil
}

// breadthNotifyActions builds the notify.email, notify.pagerduty,
// notify.teams, notify.github_issue, notify.jira and notify.slackbot actions.
func breadthNotifyActions(cfg *config.Config, rs secret.Resolvers, hc *http.Client, incidentURL func(string) string) ([]step.Action, error) {
	n := cfg.Notifiers
	build := func(kind string, names []string, mk func(name string) (notify.Notifier, error)) (step.Action, error) {
		m := map[string]notify.Notifier{}
		for _, name := range names {
			x, err := mk(name)
			if err != nil {
				return nil, fmt.Errorf("notifiers.%s.%s: %w", kind, name, err)
			}
			m[name] = x
		}
		return actions.Notify{Kind: kind, Notifiers: m, IncidentURL: incidentURL}, nil
	}
	var out []step.Action
	add := func(a step.Action, err error) error {
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	}
	if err := add(build("email", sortedKeys(n.Email), func(name string) (notify.Notifier, error) {
		e := n.Email[name]
		pw, err := optionalSource(rs, "password", e.Password)
		if err != nil {
			return nil, err
		}
		var pool *x509.CertPool
		if e.CAFile != "" {
			pem, err := os.ReadFile(e.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool = x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s holds no PEM certificate", e.CAFile)
			}
		}
		return email.New(email.Config{Host: e.Host, Port: e.Port, TLS: e.TLS, Username: e.Username, Password: pw, From: e.From, To: e.To, RootCAs: pool})
	})); err != nil {
		return nil, err
	}
	if err := add(build("pagerduty", sortedKeys(n.PagerDuty), func(name string) (notify.Notifier, error) {
		pd := n.PagerDuty[name]
		rk, err := rs.Source(pd.RoutingKey)
		if err != nil {
			return nil, err
		}
		return pagerduty.New(pagerduty.Config{URL: pd.URL, RoutingKey: rk, HTTPClient: hc})
	})); err != nil {
		return nil, err
	}
	if err := add(build("teams", sortedKeys(n.Teams), func(name string) (notify.Notifier, error) {
		u, err := rs.Source(n.Teams[name].WebhookURL)
		if err != nil {
			return nil, err
		}
		return teams.New(teams.Config{WebhookURL: u, HTTPClient: hc})
	})); err != nil {
		return nil, err
	}
	if err := add(build("github_issue", sortedKeys(n.GitHubIssue), func(name string) (notify.Notifier, error) {
		g := n.GitHubIssue[name]
		tok, err := rs.Source(g.Token)
		if err != nil {
			return nil, err
		}
		api := g.APIURL
		if api == "" {
			api = cfg.GitHub.APIURL
		}
		return githubissue.New(githubissue.Config{BaseURL: api, Token: tok, Repo: g.Repo, Labels: g.Labels, Assignees: g.Assignees, HTTPClient: hc})
	})); err != nil {
		return nil, err
	}
	if err := add(build("jira", sortedKeys(n.Jira), func(name string) (notify.Notifier, error) {
		j := n.Jira[name]
		tok, err := rs.Source(j.APIToken)
		if err != nil {
			return nil, err
		}
		return jira.New(jira.Config{BaseURL: j.BaseURL, Email: j.Email, APIToken: tok, Project: j.Project, IssueType: j.IssueType, Labels: j.Labels, HTTPClient: hc})
	})); err != nil {
		return nil, err
	}
	if err := add(build("slackbot", sortedKeys(n.SlackBot), func(name string) (notify.Notifier, error) {
		s := n.SlackBot[name]
		tok, err := rs.Source(s.Token)
		if err != nil {
			return nil, err
		}
		return slackbot.New(slackbot.Config{BaseURL: s.BaseURL, Token: tok, DefaultChannel: s.DefaultChannel, HTTPClient: hc})
	})); err != nil {
		return nil, err
	}
	return out, nil
}

// buildOwners builds the owner resolver: the owners file, GitHub (with
// github.token) for CODEOWNERS and commit authors, and the configured
// providers' owner lookups (providers in dry-run are not asked).
func buildOwners(cfg *config.Config, ps *actions.Providers, rs secret.Resolvers, hc *http.Client, log logrus.FieldLogger) (responders.OwnerResolver, error) {
	r := &owners.Resolver{Log: log.WithField("component", "owners")}
	if cfg.Owners.File != "" {
		f, err := owners.Load(cfg.Owners.File)
		if err != nil {
			return nil, fmt.Errorf("owners.file: %w", err)
		}
		r.File = f
	}
	if !cfg.GitHub.Token.IsZero() {
		tok, err := rs.Source(cfg.GitHub.Token)
		if err != nil {
			return nil, fmt.Errorf("github.token: %w", err)
		}
		r.GitHub = &owners.CachedFiles{GitHub: owners.NewGitHubAPI(cfg.GitHub.APIURL, tok, hc)}
	}
	r.Lookup = func(name string) (providers.OwnerLookup, bool) {
		p, dry, ok := ps.Get(name)
		if !ok || dry != "" {
			return nil, false
		}
		l, ok := p.(providers.OwnerLookup)
		if !ok {
			return nil, false
		}
		return l, true
	}
	return r, nil
}

// ProviderSpecs returns the specs of every provider Firebreak builds, for
// the capability table (`firebreak providers --markdown`).
func ProviderSpecs() []providers.Spec {
	cfg := &config.Config{}
	cfg.Defaults()
	ps, err := buildProviders(cfg, secret.Resolvers{}, http.DefaultClient, logrus.New())
	if err != nil {
		return nil
	}
	return ps.Specs()
}
