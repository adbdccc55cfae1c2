package config

import (
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// KeyProvider configures a provider that needs no credential of Firebreak's
// (it verifies with the leaked key, and revokes with it or escalates).
type KeyProvider struct {
	BaseURL string `yaml:"base_url"`
	DryRun  bool   `yaml:"dry_run"`

	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// Anthropic configures the Anthropic provider.
type Anthropic struct {
	BaseURL  string     `yaml:"base_url"`
	AdminKey secret.Ref `yaml:"admin_key"`
	DryRun   bool       `yaml:"dry_run"`

	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// AWS configures the AWS IAM provider. The access key is Firebreak's own
// principal, allowed iam:GetAccessKeyLastUsed, ListAccessKeys,
// UpdateAccessKey, DeleteAccessKey and CreateAccessKey.
type AWS struct {
	Endpoint        string     `yaml:"endpoint"`
	Region          string     `yaml:"region"`
	AccessKeyID     secret.Ref `yaml:"access_key_id"`
	SecretAccessKey secret.Ref `yaml:"secret_access_key"`
	SessionToken    secret.Ref `yaml:"session_token"`
	DryRun          bool       `yaml:"dry_run"`

	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// Google configures the Google API keys provider.
type Google struct {
	GeminiURL   string     `yaml:"gemini_url"`
	APIKeysURL  string     `yaml:"api_keys_url"`
	AccessToken secret.Ref `yaml:"access_token"`
	DryRun      bool       `yaml:"dry_run"`

	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// Stripe configures the Stripe provider.
type Stripe struct {
	BaseURL       string     `yaml:"base_url"`
	ManagementKey secret.Ref `yaml:"management_key"`
	APIVersion    string     `yaml:"api_version"`
	DryRun        bool       `yaml:"dry_run"`

	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// Email is an SMTP notifier.
type Email struct {
	Host     string     `yaml:"host"`
	Port     int        `yaml:"port"`
	TLS      string     `yaml:"tls"` // starttls (default) | tls | none
	Username string     `yaml:"username"`
	Password secret.Ref `yaml:"password"`
	From     string     `yaml:"from"`
	To       []string   `yaml:"to"`
	CAFile   string     `yaml:"ca_file"` // PEM bundle for a private CA
}

// PagerDuty is an Events API v2 notifier.
type PagerDuty struct {
	RoutingKey secret.Ref `yaml:"routing_key"`
	URL        string     `yaml:"url"`
}

// Teams is a Microsoft Teams incoming-webhook notifier.
type Teams struct {
	WebhookURL secret.Ref `yaml:"webhook_url"`
}

// GitHubIssue files GitHub issues.
type GitHubIssue struct {
	APIURL    string     `yaml:"api_url"`
	Token     secret.Ref `yaml:"token"`
	Repo      string     `yaml:"repo"`
	Labels    []string   `yaml:"labels"`
	Assignees []string   `yaml:"assignees"`
}

// JiraNotifier files Jira Cloud issues.
type JiraNotifier struct {
	BaseURL   string     `yaml:"base_url"`
	Email     string     `yaml:"email"`
	APIToken  secret.Ref `yaml:"api_token"`
	Project   string     `yaml:"project"`
	IssueType string     `yaml:"issue_type"`
	Labels    []string   `yaml:"labels"`
}

// SlackBot posts with chat.postMessage and a bot token.
type SlackBot struct {
	BaseURL        string     `yaml:"base_url"`
	Token          secret.Ref `yaml:"token"`
	DefaultChannel string     `yaml:"default_channel"`
}

// Owners configures owner resolution.
type Owners struct {
	File string `yaml:"file"`
}

func (c *Config) defaultsBreadth() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	p := &c.Providers
	def(&p.Anthropic.BaseURL, "https://api.anthropic.com")
	def(&p.AWS.Region, "us-east-1")
	def(&p.Google.GeminiURL, "https://generativelanguage.googleapis.com")
	def(&p.Google.APIKeysURL, "https://apikeys.googleapis.com")
	def(&p.Slack.BaseURL, "https://slack.com")
	def(&p.Stripe.BaseURL, "https://api.stripe.com")
	def(&p.HuggingFace.BaseURL, "https://huggingface.co")
	def(&p.Groq.BaseURL, "https://api.groq.com")
	def(&p.Perplexity.BaseURL, "https://api.perplexity.ai")
	def(&p.XAI.BaseURL, "https://api.x.ai")
	def(&p.Replicate.BaseURL, "https://api.replicate.com")
}

var jiraKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)

func (c *Config) validateBreadth(bad func(path, format string, args ...any), ref func(string, secret.Ref, bool), httpURL func(string, string, bool)) {
	p := c.Providers
	for path, u := range map[string]string{
		"providers.anthropic.base_url": p.Anthropic.BaseURL, "providers.google.gemini_url": p.Google.GeminiURL,
		"providers.google.api_keys_url": p.Google.APIKeysURL, "providers.slack.base_url": p.Slack.BaseURL,
		"providers.stripe.base_url": p.Stripe.BaseURL, "providers.huggingface.base_url": p.HuggingFace.BaseURL,
		"providers.groq.base_url": p.Groq.BaseURL, "providers.perplexity.base_url": p.Perplexity.BaseURL,
		"providers.xai.base_url": p.XAI.BaseURL, "providers.replicate.base_url": p.Replicate.BaseURL,
	} {
		httpURL(path, u, true)
	}
	if p.AWS.Endpoint != "" {
		httpURL("providers.aws.endpoint", p.AWS.Endpoint, false)
	}
	ref("providers.anthropic.admin_key", p.Anthropic.AdminKey, false)
	ref("providers.aws.access_key_id", p.AWS.AccessKeyID, false)
	ref("providers.aws.secret_access_key", p.AWS.SecretAccessKey, false)
	ref("providers.aws.session_token", p.AWS.SessionToken, false)
	if p.AWS.AccessKeyID.IsZero() != p.AWS.SecretAccessKey.IsZero() {
		bad("providers.aws.access_key_id", "access_key_id and secret_access_key go together")
	}
	ref("providers.google.access_token", p.Google.AccessToken, false)
	ref("providers.stripe.management_key", p.Stripe.ManagementKey, false)

	n := c.Notifiers
	for name, e := range n.Email {
		at := "notifiers.email." + name
		if e.Host == "" {
			bad(at+".host", "is required")
		}
		switch e.TLS {
		case "", "starttls", "tls":
		case "none":
			if !e.Password.IsZero() {
				bad(at+".tls", "none cannot be used with a password: the password would travel in clear")
			}
		default:
			bad(at+".tls", "must be starttls, tls or none, got %q", e.TLS)
		}
		ref(at+".password", e.Password, false)
		if _, err := mail.ParseAddress(e.From); err != nil {
			bad(at+".from", "must be an email address, got %q", e.From)
		}
		for _, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad(at+".to", "%q is not an email address", to)
			}
		}
		if e.CAFile != "" {
			if _, err := os.Stat(e.CAFile); err != nil {
				bad(at+".ca_file", "cannot read %s", e.CAFile)
			}
		}
	}
	for name, pd := range n.PagerDuty {
		ref("notifiers.pagerduty."+name+".routing_key", pd.RoutingKey, true)
		if pd.URL != "" {
			httpURL("notifiers.pagerduty."+name+".url", pd.URL, false)
		}
	}
	for name, t := range n.Teams {
		ref("notifiers.teams."+name+".webhook_url", t.WebhookURL, true)
	}
	for name, g := range n.GitHubIssue {
		at := "notifiers.github_issue." + name
		ref(at+".token", g.Token, true)
		if g.APIURL != "" {
			httpURL(at+".api_url", g.APIURL, false)
		}
		if o, r, ok := strings.Cut(g.Repo, "/"); g.Repo != "" && (!ok || o == "" || r == "" || strings.Contains(r, "/")) {
			bad(at+".repo", "must be owner/name, got %q", g.Repo)
		}
	}
	for name, j := range n.Jira {
		at := "notifiers.jira." + name
		httpURL(at+".base_url", j.BaseURL, true)
		ref(at+".api_token", j.APIToken, true)
		if _, err := mail.ParseAddress(j.Email); err != nil {
			bad(at+".email", "must be the account's email address, got %q", j.Email)
		}
		if j.Project != "" && !jiraKey.MatchString(j.Project) {
			bad(at+".project", "must be a project key such as SEC, got %q", j.Project)
		}
	}
	for name, s := range n.SlackBot {
		ref("notifiers.slackbot."+name+".token", s.Token, true)
		if s.BaseURL != "" {
			httpURL("notifiers.slackbot."+name+".base_url", s.BaseURL, false)
		}
	}
	if c.Owners.File != "" {
		if _, err := os.Stat(c.Owners.File); err != nil {
			bad("owners.file", "%s", fmt.Sprintf("cannot read %s", c.Owners.File))
		}
	}
}
