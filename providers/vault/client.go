// Package vault is Firebreak's HashiCorp Vault integration: a client that
// authenticates with AppRole or JWT/Kubernetes auth (a static token only in
// dev mode), renews its short-lived token and logs in again when renewal
// fails; crash-safe key rotation into KV v2 (Rotator); blast-radius search
// across KV mounts by fingerprint (Finder); lease revocation; sealing through
// Transit (Transit, a secret.Sealer); "vault:" secret references for
// Firebreak's own credentials (ReadRef); and the least-privilege policy
// Firebreak needs (Policy).
//
// Every call takes a context and returns errors classified as
// *providers.Error (provider "vault"): permission denied is permanent and says
// so; sealed, unreachable, rate-limited and 5xx are retryable. No error, log
// line or audit record carries a secret read from or written to Vault.
//
// It speaks to Vault through github.com/hashicorp/vault/api, HashiCorp's own
// client, with its retries off: retries are the responder's business, so that
// a sealed Vault fails a step in bounded time with a clear error.
package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Auth methods.
const (
	AuthAppRole    = "approle"
	AuthJWT        = "jwt"
	AuthKubernetes = "kubernetes"
	AuthToken      = "token"
)

// DefaultKubernetesJWT is where a Kubernetes pod finds its service-account token.
const DefaultKubernetesJWT = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Auth says how Firebreak logs in to Vault.
type Auth struct {
	// Method is approle, jwt, kubernetes or token.
	Method string
	// Mount is the auth method's mount path; the method's name when empty.
	Mount string
	// RoleID and SecretID are AppRole's credentials.
	RoleID, SecretID secret.Source
	// Role is the JWT or Kubernetes role to log in as.
	Role string
	// JWT is the JWT (jwt) or the service-account token (kubernetes), read at
	// every login so that a projected token that Kubernetes rotates is picked up.
	JWT secret.Source
	// Token is a static token (method token). Accepted only with Dev set.
	Token secret.Source
}

// Config configures a Client.
type Config struct {
	Address   string // e.g. http://127.0.0.1:8200
	Namespace string // Vault Enterprise namespace, optional
	Auth      Auth
	// Dev allows a static (root) token; the caller warns about it.
	Dev bool
	// HTTPClient carries the requests; a client with a 30s timeout when nil.
	HTTPClient *http.Client
	// Logger receives auth and renewal lines (never a token); discarded when nil.
	Logger logrus.FieldLogger
}

// Client is an authenticated Vault client. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *api.Client
	log logrus.FieldLogger

	mu       sync.Mutex
	loggedIn bool
	ttl      time.Duration // current token's TTL (0: does not expire)
	loginTTL time.Duration // TTL a fresh login gives
	renew    bool          // token is renewable
	loginMu  sync.Mutex    // one login at a time

	logins   atomic.Int64
	renewals atomic.Int64
}

// New returns a client. It does not contact Vault: the first call (or Login)
// logs in.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("vault: address is required")
	}
	switch cfg.Auth.Method {
	case AuthAppRole:
		if cfg.Auth.RoleID == nil || cfg.Auth.SecretID == nil {
			return nil, errors.New("vault: approle auth needs role_id and secret_id")
		}
	case AuthJWT, AuthKubernetes:
		if cfg.Auth.Role == "" {
			return nil, fmt.Errorf("vault: %s auth needs a role", cfg.Auth.Method)
		}
		if cfg.Auth.JWT == nil {
			return nil, fmt.Errorf("vault: %s auth needs a jwt source", cfg.Auth.Method)
		}
	case AuthToken:
		if !cfg.Dev {
			return nil, errors.New("vault: a static token is accepted only in dev mode (vault.dev: true); use approle, jwt or kubernetes auth")
		}
		if cfg.Auth.Token == nil {
			return nil, errors.New("vault: token auth needs a token source")
		}
	default:
		return nil, fmt.Errorf("vault: unknown auth method %q (approle, jwt, kubernetes, token)", cfg.Auth.Method)
	}
	if cfg.Auth.Mount == "" {
		cfg.Auth.Mount = cfg.Auth.Method
	}
	cfg.Auth.Mount = strings.Trim(cfg.Auth.Mount, "/")
	ac := api.DefaultConfig()
	ac.Address = cfg.Address
	ac.MaxRetries = 0
	if cfg.HTTPClient != nil {
		ac.HttpClient = cfg.HTTPClient
	} else {
		ac.Timeout = 30 * time.Second
	}
	cl, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	cl.ClearToken()
	if cfg.Namespace != "" {
		cl.SetNamespace(cfg.Namespace)
	}
	log := cfg.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Client{cfg: cfg, api: cl, log: log.WithField("component", "vault")}, nil
}

// Address is the Vault address.
func (c *Client) Address() string { return c.cfg.Address }

// Logins and Renewals count successful logins and token renewals (for tests
// and metrics).
func (c *Client) Logins() int64   { return c.logins.Load() }
func (c *Client) Renewals() int64 { return c.renewals.Load() }

// Login authenticates now.
func (c *Client) Login(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	return c.loginLocked(ctx)
}

func (c *Client) loginLocked(ctx context.Context) error {
	a := c.cfg.Auth
	if a.Method == AuthToken {
		tok, err := a.Token.Secret(ctx)
		if err != nil {
			return &providers.Error{Provider: Name, Op: "login", Class: providers.Permanent, Message: "cannot read the Vault token", Err: err}
		}
		c.api.SetToken(tok.Reveal())
		var ttl time.Duration
		var renewable bool
		if sec, err := c.api.Auth().Token().LookupSelfWithContext(ctx); err == nil && sec != nil {
			if d, err := sec.TokenTTL(); err == nil {
				ttl = d
			}
			renewable, _ = sec.TokenIsRenewable()
		} else if err != nil {
			return classify("login", "look up the configured token", err)
		}
		c.mu.Lock()
		c.loggedIn, c.ttl, c.loginTTL, c.renew = true, ttl, ttl, renewable
		c.mu.Unlock()
		c.logins.Add(1)
		return nil
	}
	body := map[string]any{}
	switch a.Method {
	case AuthAppRole:
		rid, err := a.RoleID.Secret(ctx)
		if err != nil {
			return &providers.Error{Provider: Name, Op: "login", Class: providers.Permanent, Message: "cannot read the AppRole role_id", Err: err}
		}
		sid, err := a.SecretID.Secret(ctx)
		if err != nil {
			return &providers.Error{Provider: Name, Op: "login", Class: providers.Permanent, Message: "cannot read the AppRole secret_id", Err: err}
		}
		body["role_id"], body["secret_id"] = rid.Reveal(), sid.Reveal()
	case AuthJWT, AuthKubernetes:
		jwt, err := a.JWT.Secret(ctx)
		if err != nil {
			return &providers.Error{Provider: Name, Op: "login", Class: providers.Permanent, Message: "cannot read the " + a.Method + " token", Err: err}
		}
		body["role"], body["jwt"] = a.Role, jwt.Reveal()
	}
	// Log in with a token-less clone: a stale token must not ride along.
	lc, err := c.api.Clone()
	if err != nil {
		return err
	}
	lc.ClearToken()
	if c.cfg.Namespace != "" {
		lc.SetNamespace(c.cfg.Namespace)
	}
	path := "auth/" + a.Mount + "/login"
	sec, err := lc.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return classify("login", a.Method+" login at "+path, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return permanent("login", "%s login at %s returned no token", a.Method, path)
	}
	c.api.SetToken(sec.Auth.ClientToken)
	ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
	c.mu.Lock()
	c.loggedIn, c.ttl, c.loginTTL, c.renew = true, ttl, ttl, sec.Auth.Renewable
	c.mu.Unlock()
	c.logins.Add(1)
	c.log.WithFields(logrus.Fields{"method": a.Method, "ttl": ttl.String(), "policies": sec.Auth.Policies}).Info("logged in to Vault")
	return nil
}

// ensure logs in if no login happened yet.
func (c *Client) ensure(ctx context.Context) error {
	c.mu.Lock()
	ok := c.loggedIn
	c.mu.Unlock()
	if ok {
		return nil
	}
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	ok = c.loggedIn
	c.mu.Unlock()
	if ok {
		return nil
	}
	return c.loginLocked(ctx)
}

// relogin logs in again after a permission denial that may have been an
// expired token (a revoked or expired token also answers 403).
func (c *Client) relogin(ctx context.Context, used string) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if c.api.Token() != used {
		return nil // someone else logged in meanwhile
	}
	return c.loginLocked(ctx)
}

// do runs fn with the authenticated client. A 403 with a token that may have
// expired triggers one fresh login and one retry; a second 403 is a real
// permission denial. Errors are classified.
func (c *Client) do(ctx context.Context, op providers.Op, what string, fn func(*api.Client) error) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	used := c.api.Token()
	err := fn(c.api)
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && c.cfg.Auth.Method != AuthToken {
		if lerr := c.relogin(ctx, used); lerr != nil {
			return lerr
		}
		err = fn(c.api)
	}
	return classify(op, what, err)
}

// Run keeps the token alive until ctx ends: it renews the token at two
// thirds of its TTL, and logs in again when renewal fails or the token nears
// its maximum TTL (renewal then gives less than half a fresh login's TTL). A
// failed login is retried with backoff. A token that does not expire (a dev
// root token) needs nothing.
func (c *Client) Run(ctx context.Context) {
	backoff := time.Second
	for {
		if err := c.ensure(ctx); err != nil {
			c.log.WithError(err).Warn("Vault login failed; retrying")
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		c.mu.Lock()
		ttl, loginTTL, renewable := c.ttl, c.loginTTL, c.renew
		c.mu.Unlock()
		if ttl <= 0 {
			<-ctx.Done()
			return
		}
		if !sleep(ctx, max(ttl*2/3, 200*time.Millisecond)) {
			return
		}
		used := c.api.Token()
		if renewable && ttl >= loginTTL/2 {
			sec, err := c.api.Auth().Token().RenewSelfWithContext(ctx, int(loginTTL/time.Second))
			if err == nil && sec != nil && sec.Auth != nil {
				nttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
				c.mu.Lock()
				c.ttl = nttl
				c.mu.Unlock()
				c.renewals.Add(1)
				c.log.WithField("ttl", nttl.String()).Debug("renewed the Vault token")
				backoff = time.Second
				continue
			}
			if ctx.Err() != nil {
				return
			}
			c.log.WithError(classify("renew", "renew the token", err)).Warn("Vault token renewal failed; logging in again")
		}
		if err := c.relogin(ctx, used); err != nil {
			c.log.WithError(err).Warn("Vault login failed; retrying")
			c.mu.Lock()
			c.loggedIn = false
			c.mu.Unlock()
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ReadRef resolves a "vault:" secret reference (without the scheme):
// "secret/data/firebreak/openai#admin_key" reads the KV v2 secret at that
// API path and returns its admin_key field; a KV v1 path works the same way.
// It is the Vault resolver of secret.Resolvers: Firebreak's own credentials
// are read at step time and held in memory only for the step.
func (c *Client) ReadRef(ctx context.Context, ref string) (secret.Value, error) {
	path, field, ok := strings.Cut(ref, "#")
	path = strings.Trim(path, "/")
	if !ok || path == "" || field == "" {
		return secret.Value{}, permanent("read", "reference %q must be PATH#FIELD, e.g. secret/data/firebreak/openai#admin_key", ref)
	}
	var sec *api.Secret
	err := c.do(ctx, "read", "read "+path, func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return secret.Value{}, err
	}
	if sec == nil || sec.Data == nil {
		return secret.Value{}, &providers.Error{Provider: Name, Op: "read", Class: providers.Permanent, Status: 404,
			Message: "read " + path + ": no secret there", Err: ErrNotFound}
	}
	data := sec.Data
	if inner, ok := data["data"].(map[string]any); ok {
		if _, kv2 := data["metadata"]; kv2 {
			data = inner
		}
	}
	v, ok := data[field].(string)
	if !ok || v == "" {
		return secret.Value{}, permanent("read", "read %s: the secret has no non-empty string field %q", path, field)
	}
	return secret.New(v), nil
}
