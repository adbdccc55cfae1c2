// Package config is Firebreak's configuration: a YAML file, overridden by
// FIREBREAK_* environment variables, validated in full at start with every
// problem named by its field path (and file:line:col when it came from the
// file). Every secret is a reference (env:NAME, file:PATH), never inline.
package config

import (
	"fmt"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
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
	Approvals  Approvals  `yaml:"approvals"` // approval steps (oncall.go)
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
	// before their ack (slower). By default only exposures are: the rest is
	// persisted asynchronously and rebuilt by redelivery after a power loss.
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
}

// Providers configures provider clients. A provider without credentials runs
// in dry-run.
type Providers struct {
	OpenAI OpenAI         `yaml:"openai"`
	GitHub GitHubProvider `yaml:"github"`
}

// OpenAI configures the OpenAI provider.
type OpenAI struct {
	BaseURL  string     `yaml:"base_url"`
	AdminKey secret.Ref `yaml:"admin_key"`
	DryRun   bool       `yaml:"dry_run"`
}

// GitHubProvider configures GitHub token revocation.
type GitHubProvider struct {
	BaseURL       string   `yaml:"base_url"`
	RevokePerHour int      `yaml:"revoke_per_hour"`
	BatchWindow   Duration `yaml:"batch_window"`
	DryRun        bool     `yaml:"dry_run"`
}

// Notifiers are named notifier instances by kind; playbook steps name one
// (`notifier: default`).
type Notifiers struct {
	Slack   map[string]Slack   `yaml:"slack"`
	Webhook map[string]Webhook `yaml:"webhook"`
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
}

// RespondersEnabled reports whether this process runs responders.
func (c *Config) RespondersEnabled() bool {
	return c.Responders.Enabled == nil || *c.Responders.Enabled
}

// BuiltinPlaybooks reports whether the built-in playbooks are loaded.
func (c *Config) BuiltinPlaybooks() bool { return c.Playbooks.Builtin == nil || *c.Playbooks.Builtin }
