// Package config is Firebreak's configuration: a YAML file, overridden by
// FIREBREAK_* environment variables, validated in full at start with every
// problem named by its field path (and file:line:col when it came from the
// file). Every secret is a reference (env:NAME, file:PATH), never inline.
package config

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tlsfiles"
)

// Config is the whole configuration. The zero value plus Defaults is the
// embedded default: embedded JetStream under ./firebreak-data, HTTP on
// 127.0.0.1:8080, built-in playbooks, providers in dry-run.
type Config struct {
	DataDir    string     `yaml:"data_dir"`
	Log        Log        `yaml:"log"`
	HTTP       HTTP       `yaml:"http"`
	NATS       NATS       `yaml:"nats"`
	Keyring    Keyring    `yaml:"keyring"`
	Responders Responders `yaml:"responders"`
	Playbooks  Playbooks  `yaml:"playbooks"`
	GitHub     GitHub     `yaml:"github"`
	Providers  Providers  `yaml:"providers"`
	Notifiers  Notifiers  `yaml:"notifiers"`
	Vault      Vault      `yaml:"vault"`
	Jira       Jira       `yaml:"jira"`
	Tickets    Tickets    `yaml:"tickets"`
	Owners     Owners     `yaml:"owners"`
	Ingest     Ingest     `yaml:"ingest"`
	Approvals  Approvals  `yaml:"approvals"` // approval steps (oncall.go)

	// where records where each field path was set (Load), so that
	// CheckSecrets can name the file position of a failing reference.
	where map[string]place
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// HTTP configures the HTTP server.
type HTTP struct {
	Listen     string     `yaml:"listen"`
	MaxBody    int64      `yaml:"max_body"`    // bytes
	AdminToken secret.Ref `yaml:"admin_token"` // control API bearer token; default: a generated file in data_dir
	PublicURL  string     `yaml:"public_url"`  // base URL for links in notifications
	// IngestTimeout bounds how long an ingest request waits for the durable
	// publish before answering 503 (senders retry). GitHub waits 10s.
	IngestTimeout Duration `yaml:"ingest_timeout"`
	// ShutdownDelay keeps serving for this long after SIGTERM while /readyz
	// answers 503, so that a load balancer stops routing here before the
	// listener closes (0, the default: close at once).
	ShutdownDelay Duration `yaml:"shutdown_delay"`
}

// NATS configures the bus.
type NATS struct {
	URL             string   `yaml:"url"` // empty: embedded server
	CredsFile       string   `yaml:"creds_file"`
	NKeyFile        string   `yaml:"nkey_file"`
	CAFile          string   `yaml:"ca_file"`
	CertFile        string   `yaml:"cert_file"`
	KeyFile         string   `yaml:"key_file"`
	Embedded        Embedded `yaml:"embedded"`
	Replicas        int      `yaml:"replicas"`
	AckWait         Duration `yaml:"ack_wait"`
	MaxDeliver      int      `yaml:"max_deliver"`
	DuplicateWindow Duration `yaml:"duplicate_window"`
	DeliveryTTL     Duration `yaml:"delivery_ttl"`
	ExposureMaxAge  Duration `yaml:"exposure_max_age"`
	AuditMaxAge     Duration `yaml:"audit_max_age"`
	// SyncState also fsyncs incident, delivery, audit and dead-letter writes
	// before their ack (much slower: each write to a stream is fsynced on its
	// own). By default only exposures are; the rest is persisted within a few
	// milliseconds, and what a crash loses of it is redone by redelivery.
	SyncState bool `yaml:"sync_state"`
}

// Embedded configures the embedded nats-server.
type Embedded struct {
	Listen   string `yaml:"listen"`    // also serve TCP clients here (off by default)
	FSync    string `yaml:"fsync"`     // "always" (default) or an interval such as "1s"
	MaxStore int64  `yaml:"max_store"` // bytes; 0: nats-server's default
}

// Keyring configures sealing.
type Keyring struct {
	File string `yaml:"file"` // default data_dir/keyring.json, created on first start (0600)
}

// Responders configures the responder workers.
type Responders struct {
	Enabled     *bool    `yaml:"enabled"` // default true
	Concurrency int      `yaml:"concurrency"`
	Grace       Duration `yaml:"grace"`
}

// Playbooks configures where playbooks come from.
type Playbooks struct {
	Builtin *bool  `yaml:"builtin"` // default true
	Dir     string `yaml:"dir"`
}

// GitHub configures the GitHub webhook and API access for alerts.
type GitHub struct {
	WebhookSecret secret.Ref `yaml:"webhook_secret"` // default: a generated file in data_dir
	Token         secret.Ref `yaml:"token"`          // reads alerts' secrets; without it alerts run in dry-run
	APIURL        string     `yaml:"api_url"`
	// App authenticates as a GitHub App installation instead of Token.
	App GitHubApp `yaml:"app"`
	// Poll lists open alerts of repositories, organizations or enterprises
	// (backfill, and catching webhooks missed while Firebreak was down).
	Poll GitHubPoll `yaml:"poll"`
	// Partner enables POST /v1/ingest/github/partner (secret scanning
	// partner program).
	Partner GitHubPartner `yaml:"partner"`
	// ScanIssues scans issues and issue_comment webhooks for pasted secrets
	// (default true).
	ScanIssues *bool `yaml:"scan_issues"`
}

// GitHubApp is a GitHub App installation (JWT → installation token).
type GitHubApp struct {
	AppID          string     `yaml:"app_id"`
	InstallationID int64      `yaml:"installation_id"`
	PrivateKey     secret.Ref `yaml:"private_key"` // the App's PEM private key
}

// Configured reports whether an App is configured.
func (a GitHubApp) Configured() bool {
	return a.AppID != "" || a.InstallationID != 0 || !a.PrivateKey.IsZero()
}

// GitHubPoll configures the alert poller.
type GitHubPoll struct {
	Interval    Duration `yaml:"interval"` // between passes; 0 disables polling in serve
	Repos       []string `yaml:"repos"`    // owner/name
	Orgs        []string `yaml:"orgs"`
	Enterprises []string `yaml:"enterprises"`
	Since       string   `yaml:"since"` // YYYY-MM-DD or RFC 3339: skip older alerts
	PerPage     int      `yaml:"per_page"`
	MaxWait     Duration `yaml:"max_wait"` // longest rate-limit wait (default 1h)
}

// GitHubPartner configures the partner-program endpoint.
type GitHubPartner struct {
	Enabled bool       `yaml:"enabled"`
	KeysURL string     `yaml:"keys_url"` // default https://api.github.com/meta/public_keys/secret_scanning
	Token   secret.Ref `yaml:"token"`    // optional: authenticates the key fetch (no scopes needed)
	// Feedback answers with true_positive/false_positive labels after
	// verifying each token (only for partners enrolled with GitHub).
	Feedback bool `yaml:"feedback"`
	// Types maps the partner's token type names to provider and secret type.
	Types map[string]PartnerType `yaml:"types"`
}

// PartnerType maps one partner token type.
type PartnerType struct {
	Provider string `yaml:"provider"`
	Type     string `yaml:"type"`
}

// Jira configures Jira Cloud: webhook ingest and the jira.redact step.
type Jira struct {
	BaseURL       string     `yaml:"base_url"` // https://acme.atlassian.net
	Email         string     `yaml:"email"`    // the account of the API token
	APIToken      secret.Ref `yaml:"api_token"`
	WebhookSecret secret.Ref `yaml:"webhook_secret"` // verifies X-Hub-Signature
	// Unsigned accepts webhooks without a signature (no webhook_secret).
	Unsigned bool `yaml:"unsigned"`
	// Projects maps project keys to an environment and owner hint.
	Projects map[string]JiraProject `yaml:"projects"`
}

// JiraProject is a project key's hints.
type JiraProject struct {
	Environment string `yaml:"environment"`
	Owner       string `yaml:"owner"`
}

// Tickets configures the generic ticket endpoint POST /v1/ingest/tickets.
type Tickets struct {
	Token secret.Ref `yaml:"token"` // bearer token bridges send; the route is off without it
}

// Providers configures provider clients. A provider without credentials runs
// in dry-run.
type Providers struct {
	OpenAI OpenAI         `yaml:"openai"`
	GitHub GitHubProvider `yaml:"github"`
	// Providers in breadth (see breadth.go).
	Anthropic   Anthropic   `yaml:"anthropic"`
	AWS         AWS         `yaml:"aws"`
	Google      Google      `yaml:"google"`
	Slack       KeyProvider `yaml:"slack"`
	Stripe      Stripe      `yaml:"stripe"`
	HuggingFace KeyProvider `yaml:"huggingface"`
	Groq        KeyProvider `yaml:"groq"`
	Perplexity  KeyProvider `yaml:"perplexity"`
	XAI         KeyProvider `yaml:"xai"`
	Replicate   KeyProvider `yaml:"replicate"`
}

// OpenAI configures the OpenAI provider.
type OpenAI struct {
	BaseURL  string     `yaml:"base_url"`
	AdminKey secret.Ref `yaml:"admin_key"`
	DryRun   bool       `yaml:"dry_run"`
	// MaxConcurrency bounds this process's requests in flight to the
	// provider (0: unbounded); see limits.go.
	MaxConcurrency int `yaml:"max_concurrency"`
}

// GitHubProvider configures GitHub token revocation.
type GitHubProvider struct {
	BaseURL       string   `yaml:"base_url"`
	RevokePerHour int      `yaml:"revoke_per_hour"`
	BatchWindow   Duration `yaml:"batch_window"`
	DryRun        bool     `yaml:"dry_run"`
	// MaxConcurrency bounds requests in flight to the provider (0: unbounded; limits.go).
	MaxConcurrency int `yaml:"max_concurrency"`
}

// Notifiers are named notifier instances by kind; playbook steps name one
// (`notifier: default`).
type Notifiers struct {
	Slack   map[string]Slack   `yaml:"slack"`
	Webhook map[string]Webhook `yaml:"webhook"`
	// Notifiers in breadth (see breadth.go).
	Email       map[string]Email        `yaml:"email"`
	PagerDuty   map[string]PagerDuty    `yaml:"pagerduty"`
	Teams       map[string]Teams        `yaml:"teams"`
	GitHubIssue map[string]GitHubIssue  `yaml:"github_issue"`
	Jira        map[string]JiraNotifier `yaml:"jira"`
	SlackBot    map[string]SlackBot     `yaml:"slackbot"`
}

// Slack is an incoming-webhook notifier.
type Slack struct {
	WebhookURL secret.Ref `yaml:"webhook_url"`
	Channel    string     `yaml:"channel"`
	Username   string     `yaml:"username"`
}

// Webhook is a signed generic webhook notifier.
type Webhook struct {
	URL     string            `yaml:"url"`
	Secret  secret.Ref        `yaml:"secret"`
	Headers map[string]string `yaml:"headers"`
}

// Vault configures HashiCorp Vault: rotation into KV v2, the blast-radius
// search, sealing through Transit, and "vault:" references for Firebreak's own
// credentials. Without an address every vault.* step runs in dry-run.
type Vault struct {
	Address     string       `yaml:"address"`
	Namespace   string       `yaml:"namespace"`
	Dev         bool         `yaml:"dev"` // allows auth.method token (a root token), with a warning
	Auth        VaultAuth    `yaml:"auth"`
	Rotation    VaultRotate  `yaml:"rotation"`
	BlastRadius VaultBlast   `yaml:"blast_radius"`
	Transit     VaultTransit `yaml:"transit"`
	// RevokePrefixes are the lease prefixes vault.revoke_lease may revoke
	// whole (they go into the printed policy; revoke-prefix needs sudo).
	RevokePrefixes []string `yaml:"revoke_prefixes"`
}

// VaultAuth says how Firebreak logs in to Vault. Its secrets are env: or
// file: references (a vault: reference cannot log in to Vault).
type VaultAuth struct {
	Method   string     `yaml:"method"` // approle | jwt | kubernetes | token (dev only)
	Mount    string     `yaml:"mount"`  // default: the method's name
	RoleID   secret.Ref `yaml:"role_id"`
	SecretID secret.Ref `yaml:"secret_id"`
	Role     string     `yaml:"role"` // jwt, kubernetes
	JWT      secret.Ref `yaml:"jwt"`  // jwt; kubernetes defaults to the pod's service-account token
	Token    secret.Ref `yaml:"token"`
}

// VaultRotate configures vault.rotate.
type VaultRotate struct {
	IntentMount    string       `yaml:"intent_mount"`  // default secret
	IntentPrefix   string       `yaml:"intent_prefix"` // default firebreak/rotations
	VerifyAttempts int          `yaml:"verify_attempts"`
	Targets        []VaultScope `yaml:"targets"` // where playbooks rotate (for the printed policy)
}

// VaultBlast configures vault.find.
type VaultBlast struct {
	Scopes     []VaultScope `yaml:"scopes"`
	OnReceive  bool         `yaml:"on_receive"` // search on every exposure, before playbooks match
	MaxSecrets int          `yaml:"max_secrets"`
}

// VaultScope is a KV v2 mount and a folder in it.
type VaultScope struct {
	Mount  string `yaml:"mount"`
	Prefix string `yaml:"prefix"`
}

// VaultTransit seals exposures through Transit when Key is set.
type VaultTransit struct {
	Mount string `yaml:"mount"` // default transit
	Key   string `yaml:"key"`
}

// Ingest configures the log sinks (POST /v1/ingest/logs, Splunk HEC, Loki
// push, syslog) and POST /v1/ingest/scan.
type Ingest struct {
	// Tokens are accepted by every HTTP log sink and by /v1/ingest/scan,
	// unless the sink lists its own. Default: a generated token file
	// data_dir/ingest-token (mode 0600).
	Tokens []secret.Ref `yaml:"tokens"`
	// DedupWindow: the same secret in the same stream makes one exposure per
	// window (the first at once, then one per window with the count of the
	// sightings folded into it). At most nats.duplicate_window, so that
	// several instances' first exposures of a secret fold in JetStream.
	DedupWindow Duration `yaml:"dedup_window"`
	// DedupMax bounds the (secret, stream) pairs tracked in memory.
	DedupMax int      `yaml:"dedup_max"`
	Logs     SinkAuth `yaml:"logs"`
	HEC      SinkAuth `yaml:"hec"`
	Loki     SinkAuth `yaml:"loki"`
	Scan     SinkAuth `yaml:"scan"`
	Syslog   Syslog   `yaml:"syslog"`
}

// SinkAuth lists the tokens one sink accepts (replacing ingest.tokens).
type SinkAuth struct {
	Tokens []secret.Ref `yaml:"tokens"`
}

// Syslog configures the syslog TCP listener (off unless listen is set).
type Syslog struct {
	Listen     string            `yaml:"listen"`      // host:port; without tls.client_ca_file no credentials: bind to loopback or a private network
	MaxMessage int               `yaml:"max_message"` // bytes held per frame; longer messages are scanned in chunks
	Labels     map[string]string `yaml:"labels"`      // added to every message (e.g. env: prod)
	TLS        SyslogTLS         `yaml:"tls"`         // syslog over TLS (RFC 5425)
}

// SyslogTLS makes the syslog listener speak TLS (RFC 5425) when cert_file is
// set. With client_ca_file, a sender must present a certificate that CA
// signed (mutual TLS): the only credential syslog can carry.
type SyslogTLS struct {
	CertFile     string `yaml:"cert_file"`      // PEM certificate chain of the listener
	KeyFile      string `yaml:"key_file"`       // PEM private key
	ClientCAFile string `yaml:"client_ca_file"` // PEM CA bundle; senders must present a certificate it signed
}

// Enabled reports whether TLS is configured.
func (t SyslogTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" }

// Config loads the certificate, key and client CAs into a TLS configuration
// (TLS 1.2 or later) that picks up replaced files (tlsfiles.Load). Its
// errors are *tlsfiles.FieldError.
func (t SyslogTLS) Config() (*tls.Config, error) {
	return tlsfiles.Load(tlsfiles.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile}, 0)
}

// Duration is a time.Duration written as "30s" in YAML and environment values.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("must be a duration such as \"30s\", got %q", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults fills every unset field with its default.
func (c *Config) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defD := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&c.DataDir, "./firebreak-data")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	def(&c.HTTP.Listen, "127.0.0.1:8080")
	if c.HTTP.MaxBody == 0 {
		c.HTTP.MaxBody = 25 << 20
	}
	defD(&c.HTTP.IngestTimeout, 8*time.Second)
	def(&c.NATS.Embedded.FSync, "always")
	if c.NATS.Replicas == 0 {
		c.NATS.Replicas = 1
	}
	defD(&c.NATS.AckWait, 30*time.Second)
	if c.NATS.MaxDeliver == 0 {
		c.NATS.MaxDeliver = 10
	}
	defD(&c.NATS.DuplicateWindow, 2*time.Minute)
	defD(&c.NATS.DeliveryTTL, 7*24*time.Hour)
	defD(&c.NATS.ExposureMaxAge, 90*24*time.Hour)
	defD(&c.NATS.AuditMaxAge, 400*24*time.Hour)
	if c.Responders.Concurrency == 0 {
		c.Responders.Concurrency = 16
	}
	defD(&c.Responders.Grace, 10*time.Second)
	def(&c.GitHub.APIURL, "https://api.github.com")
	def(&c.Providers.OpenAI.BaseURL, "https://api.openai.com")
	def(&c.Providers.GitHub.BaseURL, "https://api.github.com")
	if c.Providers.GitHub.RevokePerHour == 0 {
		c.Providers.GitHub.RevokePerHour = 60
	}
	defD(&c.Providers.GitHub.BatchWindow, 500*time.Millisecond)
	def(&c.Vault.Rotation.IntentMount, "secret")
	def(&c.Vault.Rotation.IntentPrefix, "firebreak/rotations")
	def(&c.Vault.Transit.Mount, "transit")
	c.defaultsOncall()
	if c.Vault.Auth.Method == "kubernetes" && c.Vault.Auth.JWT.IsZero() {
		c.Vault.Auth.JWT = "file:/var/run/secrets/kubernetes.io/serviceaccount/token"
	}
	c.defaultsBreadth()
	defD(&c.Ingest.DedupWindow, time.Minute)
	if c.Ingest.DedupMax == 0 {
		c.Ingest.DedupMax = 65536
	}
	if c.Ingest.Syslog.MaxMessage == 0 {
		c.Ingest.Syslog.MaxMessage = 64 << 10
	}
}

// RespondersEnabled reports whether this process runs responders.
func (c *Config) RespondersEnabled() bool {
	return c.Responders.Enabled == nil || *c.Responders.Enabled
}

// BuiltinPlaybooks reports whether the built-in playbooks are loaded.
func (c *Config) BuiltinPlaybooks() bool { return c.Playbooks.Builtin == nil || *c.Playbooks.Builtin }
