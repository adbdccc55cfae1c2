// Package github is Firebreak's GitHub provider: it verifies and revokes
// leaked GitHub tokens, and (AlertSource) reads secret-scanning alerts so the
// responder can fetch an alert's secret and locations.
//
// HTTP shapes follow GitHub's REST reference (https://docs.github.com/rest,
// API version 2022-11-28):
//
//   - Users → "Get the authenticated user": GET /user with
//     "Authorization: Bearer <token>"; 401 {"message":"Bad credentials",
//     "documentation_url":…} for a dead token. Classic and OAuth tokens report
//     their scopes in X-OAuth-Scopes; expiring tokens their expiry in
//     GitHub-Authentication-Token-Expiration.
//   - Apps → "List repositories accessible to the app installation":
//     GET /installation/repositories, the call an installation token (ghs_)
//     can make; GET /user answers it 403 "Resource not accessible by
//     integration".
//   - Apps → "Revoke an installation access token": DELETE /installation/token,
//     authenticated with the token itself, 204.
//   - Credentials → "Revoke a list of credentials": POST /credentials/revoke
//     {"credentials":[…]}, unauthenticated ("any authenticated requests will
//     return a 403"), at most 1000 tokens per request and 60 requests per hour,
//     202 Accepted, 422 "Validation failed, or the endpoint has been spammed"
//     (Firebreak retries a 422 unless its errors name the credentials field).
//     It accepts ghp_, github_pat_, gho_, ghu_ and ghr_ tokens; installation
//     tokens (ghs_) are revoked with DELETE /installation/token instead.
//   - Rate limits ("Rate limits for the REST API"): a primary limit answers
//     403 or 429 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset (epoch
//     seconds); a secondary limit answers 403 or 429 with Retry-After.
package github

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Name is the provider name.
const Name = "github"

// DefaultBaseURL is GitHub.com's REST API. For GitHub Enterprise Server use
// https://HOST/api/v3.
const DefaultBaseURL = "https://api.github.com"

// APIVersion is the REST API version Firebreak speaks.
const APIVersion = "2022-11-28"

// MaxCredentialsPerRequest is the credentials/revoke limit per request.
const MaxCredentialsPerRequest = 1000

// Secret type slugs (GitHub secret scanning's own).
const (
	TypePAT                 = "github_personal_access_token"
	TypeFineGrainedPAT      = "github_fine_grained_personal_access_token"
	TypeOAuth               = "github_oauth_access_token"
	TypeUserToServer        = "github_user_to_server_token"
	TypeRefresh             = "github_refresh_token"
	TypeInstallation        = "github_app_installation_access_token"
	defaultBatchWindow      = 500 * time.Millisecond
	defaultRevokeLimit      = 60
	defaultRevokePeriod     = time.Hour
	defaultRevokeBurst      = 5
	defaultRevokeTimeout    = 30 * time.Second
	defaultSecondaryBackoff = time.Minute
	memoTTL                 = 24 * time.Hour
	memoMax                 = 10000
)

// Config configures a Client.
type Config struct {
	// BaseURL of the REST API; DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Logger receives debug lines (never a secret); discarded when nil.
	Logger logrus.FieldLogger

	// BatchWindow is how long the revocation batcher waits for more tokens
	// after the first one arrives before it sends them in one request
	// (default 500ms). A batch is sent early when it holds BatchMax tokens.
	BatchWindow time.Duration
	// BatchMax caps tokens per request; at most (and by default) 1000.
	BatchMax int
	// RevokeLimit requests per RevokePeriod may be sent to credentials/revoke
	// (default 60 per hour, GitHub's limit). RevokeBurst of them may go at
	// once (default 5); the rest are spread so that no window of RevokePeriod
	// ever holds more than RevokeLimit requests.
	RevokeLimit  int
	RevokePeriod time.Duration
	RevokeBurst  int
	// RevokeTimeout bounds one credentials/revoke request (default 30s).
	RevokeTimeout time.Duration
	// SpamBackoff is how long the batcher holds off after credentials/revoke
	// answers 422 without naming a problem with the credentials — GitHub's
	// "the endpoint has been spammed" (default one minute, what GitHub asks
	// after a secondary rate limit; a longer Retry-After wins).
	SpamBackoff time.Duration
}

// Client implements providers.Provider for GitHub tokens. Revocations of all
// token types except installation tokens go through a batcher; call Close to
// stop it.
type Client struct {
	api providers.API
	log logrus.FieldLogger
	cfg Config

	limiter    *rate.Limiter
	life       context.Context
	cancelLife context.CancelFunc

	mu          sync.Mutex
	started     bool
	closed      bool
	pausedUntil time.Time
	memo        map[[32]byte]time.Time
	reqs        chan *pending
	stop        chan struct{}
	done        chan struct{}
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client. Its batcher starts with the first revocation that
// needs it; Close stops it.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.BatchWindow <= 0 {
		cfg.BatchWindow = defaultBatchWindow
	}
	if cfg.BatchMax <= 0 || cfg.BatchMax > MaxCredentialsPerRequest {
		cfg.BatchMax = MaxCredentialsPerRequest
	}
	if cfg.RevokeLimit <= 0 {
		cfg.RevokeLimit = defaultRevokeLimit
	}
	if cfg.RevokePeriod <= 0 {
		cfg.RevokePeriod = defaultRevokePeriod
	}
	if cfg.RevokeBurst <= 0 {
		cfg.RevokeBurst = defaultRevokeBurst
	}
	if cfg.RevokeBurst >= cfg.RevokeLimit {
		cfg.RevokeBurst = max(1, cfg.RevokeLimit/2)
	}
	if cfg.RevokeTimeout <= 0 {
		cfg.RevokeTimeout = defaultRevokeTimeout
	}
	if cfg.SpamBackoff <= 0 {
		cfg.SpamBackoff = defaultSecondaryBackoff
	}
	log := cfg.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	// Burst B now plus (Limit-B) refills over the period keeps any window of
	// one period at or under Limit.
	refill := max(cfg.RevokeLimit-cfg.RevokeBurst, 1)
	every := cfg.RevokePeriod / time.Duration(refill)
	life, cancel := context.WithCancel(context.Background())
	return &Client{
		api: providers.API{
			Provider:     Name,
			BaseURL:      cfg.BaseURL,
			Client:       cfg.HTTPClient,
			ErrorMessage: errorMessage,
			AdjustError:  adjustError,
			Header: func(h http.Header) {
				h.Set("Accept", "application/vnd.github+json")
				h.Set("X-GitHub-Api-Version", APIVersion)
			},
		},
		log:        log.WithField("provider", Name),
		cfg:        cfg,
		limiter:    rate.NewLimiter(rate.Every(every), cfg.RevokeBurst),
		life:       life,
		cancelLife: cancel,
		memo:       map[[32]byte]time.Time{},
	}
}

// Spec implements providers.Provider.
func (c *Client) Spec() providers.Spec {
	return providers.Spec{
		Name:        Name,
		DisplayName: "GitHub",
		SecretTypes: []string{TypePAT, TypeFineGrainedPAT, TypeOAuth, TypeUserToServer, TypeRefresh, TypeInstallation},
		Verify:      true,
		Revoke:      true,
		ConsoleURL:  "https://github.com/settings/tokens",
		DocsURL:     "https://docs.github.com/rest/credentials/revoke",
	}
}

// ghError is GitHub's error body.
type ghError struct {
	Message          string        `json:"message"`
	DocumentationURL string        `json:"documentation_url"`
	Errors           []errorDetail `json:"errors"`
}

// errorDetail is one entry of a GitHub error's "errors": an object
// {"resource","field","code","message"} in most answers, a bare string in the
// reference's "validation error simple" shape (which credentials/revoke's 422
// uses); a string is kept as Message.
type errorDetail struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Field   string `json:"field"`
}

// UnmarshalJSON accepts an object or a string.
func (d *errorDetail) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = errorDetail{Message: s}
		return nil
	}
	type plain errorDetail
	return json.Unmarshal(b, (*plain)(d))
}

func parseError(body []byte) ghError {
	var e ghError
	_ = json.Unmarshal(body, &e)
	return e
}

func errorMessage(status int, body []byte) string {
	e := parseError(body)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	var details []string
	for _, d := range e.Errors {
		switch {
		case d.Message != "":
			details = append(details, d.Message)
		case d.Code != "":
			details = append(details, d.Field+" "+d.Code)
		}
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, "; ") + ")"
	}
	return msg
}

// adjustError reclassifies GitHub's rate-limit answers, which need not be 429.
func adjustError(resp *http.Response, body []byte, e *providers.Error) {
	s := resp.StatusCode
	if s != http.StatusForbidden && s != http.StatusTooManyRequests && s != http.StatusUnprocessableEntity {
		return
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		e.Class = providers.Retryable
		if d := untilReset(resp.Header.Get("X-RateLimit-Reset"), time.Now()); d > e.RetryAfter {
			e.RetryAfter = d
		}
		return
	}
	if e.RetryAfter > 0 {
		e.Class = providers.Retryable // secondary limit, or credentials/revoke "spammed"
		return
	}
	doc := parseError(body).DocumentationURL
	if s == http.StatusForbidden && (strings.Contains(doc, "secondary-rate-limits") || strings.Contains(doc, "abuse-rate-limits")) {
		e.Class = providers.Retryable
		e.RetryAfter = defaultSecondaryBackoff // GitHub: wait at least a minute
	}
}

// untilReset converts an X-RateLimit-Reset (UTC epoch seconds) to a wait.
func untilReset(h string, now time.Time) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	d := time.Unix(secs, 0).Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return d
}

func bearer(v secret.Value) http.Header {
	return http.Header{"Authorization": {"Bearer " + v.Reveal()}}
}

func (c *Client) permanent(op providers.Op, msg string) *providers.Error {
	return &providers.Error{Provider: Name, Op: op, Class: providers.Permanent, Message: msg}
}

type liveness int

const (
	dead liveness = iota
	live
)

// check asks GitHub whether the token authenticates: GET /user, or for an
// installation token GET /installation/repositories?per_page=1.
func (c *Client) check(ctx context.Context, op providers.Op, tok secret.Value) (liveness, map[string]string, error) {
	installation := TokenPrefix(tok) == PrefixInstallation
	path := "/user"
	if installation {
		path = "/installation/repositories?per_page=1"
	}
	var user struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
		Type  string `json:"type"`
	}
	var inst struct {
		TotalCount int `json:"total_count"`
	}
	var out any = &user
	if installation {
		out = &inst
	}
	var hdr http.Header
	status, body, err := c.api.Do(ctx, providers.Request{
		Op: op, Method: http.MethodGet, Path: path, Header: bearer(tok), Scrub: tok, Out: out, ResponseHeader: &hdr,
	})
	facts := map[string]string{}
	switch {
	case err == nil:
		if installation {
			facts["token_kind"] = "installation"
			facts["repositories"] = strconv.Itoa(inst.TotalCount)
		} else {
			if user.Login != "" {
				facts["login"] = user.Login
			}
			if user.ID != 0 {
				facts["user_id"] = strconv.FormatInt(user.ID, 10)
			}
			if user.Type != "" {
				facts["account_type"] = user.Type
			}
		}
		if s := hdr.Get("X-OAuth-Scopes"); s != "" {
			facts["scopes"] = s
		}
		if s := hdr.Get("GitHub-Authentication-Token-Expiration"); s != "" {
			facts["expires_at"] = s
		}
		return live, facts, nil
	case status == http.StatusUnauthorized:
		return dead, nil, nil
	case status == http.StatusForbidden && !isRateLimited(err) && notAccessible(body):
		// The token authenticated; it just may not call this endpoint.
		facts["restricted"] = "true"
		return live, facts, nil
	}
	return dead, nil, err
}

func isRateLimited(err error) bool {
	var pe *providers.Error
	return errors.As(err, &pe) && pe.Class == providers.Retryable
}

func notAccessible(body []byte) bool {
	return strings.Contains(parseError(body).Message, "Resource not accessible by")
}

// Verify reports whether the token is live.
//
//   - ghp_, gho_, ghu_, github_pat_: GET /user; 200 live (facts: login, id,
//     scopes, expiry), 401 not live.
//   - ghs_ (installation token): GET /installation/repositories; 200 live,
//     401 not live. GET /user would answer a live installation token 403.
//   - a 403 "Resource not accessible by …" means the token authenticated but
//     lacks permission for the call: live.
//   - ghr_ (refresh token): it is not a bearer token and cannot be checked
//     without the app's client secret, so Verify makes no call and reports it
//     live with Facts["verified"]="false": assuming a leaked refresh token
//     is live is the safe side, and revoking it is harmless.
//   - 403/429 with X-RateLimit-Remaining: 0 or Retry-After, and 5xx: a
//     retryable *providers.Error; other statuses: permanent.
func (c *Client) Verify(ctx context.Context, cred providers.Credential) (providers.VerifyResult, error) {
	switch TokenPrefix(cred.Secret) {
	case "":
		return providers.VerifyResult{}, c.permanent(providers.OpVerify, "not a GitHub token format (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)")
	case PrefixRefresh:
		return providers.VerifyResult{Live: true, Detail: "a refresh token cannot be checked without the app's client secret; assumed live",
			Facts: map[string]string{"verified": "false", "token_kind": "refresh"}}, nil
	}
	l, facts, err := c.check(ctx, providers.OpVerify, cred.Secret)
	if err != nil {
		return providers.VerifyResult{}, err
	}
	if l == dead {
		return providers.VerifyResult{Live: false, Detail: "GitHub answers Bad credentials: the token is revoked or expired"}, nil
	}
	return providers.VerifyResult{Live: true, Detail: "the token authenticated", Facts: facts}, nil
}

// Revoke revokes the token.
//
// An installation token (ghs_) is revoked with DELETE /installation/token,
// authenticated as itself; 401 there means it is already dead.
//
// Every other token goes to POST /credentials/revoke through the batcher.
// That endpoint answers 202 whether or not the token still existed, and its
// budget is 60 requests an hour, so Revoke first checks the token with the
// same call Verify makes: a 401 means it is already revoked (AlreadyRevoked,
// no POST), which also makes a repeated Revoke a no-op. If the check itself
// fails (5xx, rate limit, network), Revoke posts anyway — revoking is safe to
// repeat, and waiting is not. Refresh tokens (ghr_) cannot be checked and are
// posted directly; a token this client revoked within the last day is
// answered AlreadyRevoked without any call.
//
// The caller blocks until its batch was answered and gets that answer (a 202
// is success for every token in it); its ctx bounds the wait. A caller that
// gives up does not pull its token out of a batch already formed.
func (c *Client) Revoke(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	prefix := TokenPrefix(cred.Secret)
	switch prefix {
	case "":
		return providers.RevokeResult{}, c.permanent(providers.OpRevoke, "not a GitHub token format (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)")
	case PrefixInstallation:
		return c.revokeInstallation(ctx, cred)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return providers.RevokeResult{}, c.closedErr()
	}
	if c.recentlyRevoked(cred.Secret) {
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "this client revoked the token earlier"}, nil
	}
	if prefix != PrefixRefresh {
		l, _, err := c.check(ctx, providers.OpRevoke, cred.Secret)
		switch {
		case err == nil && l == dead:
			return providers.RevokeResult{AlreadyRevoked: true, Detail: "GitHub answers Bad credentials: the token is already revoked or expired"}, nil
		case err != nil && ctx.Err() != nil:
			return providers.RevokeResult{}, err
		case err != nil:
			c.log.WithError(err).WithField("key", cred.Hint).Debug("pre-revoke check failed; revoking anyway")
		}
	}
	if err := c.enqueue(ctx, cred.Secret); err != nil {
		return providers.RevokeResult{}, err
	}
	c.remember(cred.Secret)
	return providers.RevokeResult{Action: "revoked",
		Detail: "GitHub accepted the token for revocation (credentials/revoke answered 202); the owner is notified by GitHub"}, nil
}

func (c *Client) revokeInstallation(ctx context.Context, cred providers.Credential) (providers.RevokeResult, error) {
	status, _, err := c.api.Do(ctx, providers.Request{
		Op: providers.OpRevoke, Method: http.MethodDelete, Path: "/installation/token",
		Header: bearer(cred.Secret), Scrub: cred.Secret,
	})
	if status == http.StatusUnauthorized {
		return providers.RevokeResult{AlreadyRevoked: true, Detail: "GitHub answers Bad credentials: the installation token is already revoked or expired"}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	return providers.RevokeResult{Action: "revoked", Detail: "installation token revoked (DELETE /installation/token answered 204)",
		Facts: map[string]string{"token_kind": "installation"}}, nil
}

func tokenKey(v secret.Value) [32]byte { return sha256.Sum256(v.Bytes()) }

func (c *Client) recentlyRevoked(v secret.Value) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.memo[tokenKey(v)]
	return ok && time.Since(at) < memoTTL
}

func (c *Client) remember(v secret.Value) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.memo) >= memoMax {
		for k, at := range c.memo {
			if now.Sub(at) >= memoTTL || len(c.memo) >= memoMax {
				delete(c.memo, k)
			}
		}
	}
	c.memo[tokenKey(v)] = now
}

// Plan implements providers.Provider.
func (c *Client) Plan(op providers.Op, cred providers.Credential) []providers.Call {
	hint := cred.Hint
	if hint == "" && !cred.Secret.IsZero() {
		hint = secret.Hint(cred.Secret)
	}
	u := c.api.URL
	prefix := TokenPrefix(cred.Secret)
	checkCall := providers.Call{Method: http.MethodGet, URL: u("/user"),
		Note: "authenticated with the leaked token " + hint + "; 200 live, 401 revoked"}
	if prefix == PrefixInstallation {
		checkCall = providers.Call{Method: http.MethodGet, URL: u("/installation/repositories?per_page=1"),
			Note: "authenticated with the leaked installation token " + hint + "; 200 live, 401 revoked"}
	}
	switch op {
	case providers.OpVerify:
		if prefix == PrefixRefresh {
			return []providers.Call{{Note: "no call: a refresh token cannot be checked; it is treated as live"}}
		}
		return []providers.Call{checkCall}
	case providers.OpRevoke:
		if prefix == PrefixInstallation {
			return []providers.Call{{Method: http.MethodDelete, URL: u("/installation/token"),
				Note: "authenticated with the leaked installation token " + hint + "; 204 revoked, 401 already revoked"}}
		}
		body, _ := json.Marshal(map[string][]string{"credentials": {hint}})
		post := providers.Call{Method: http.MethodPost, URL: u("/credentials/revoke"), Body: string(body),
			Note: fmt.Sprintf("unauthenticated; batched with tokens arriving within %s (up to %d per request); at most %d requests per %s",
				c.cfg.BatchWindow, c.cfg.BatchMax, c.cfg.RevokeLimit, c.cfg.RevokePeriod)}
		if prefix == PrefixRefresh {
			return []providers.Call{post}
		}
		checkCall.Note += " (a 401 skips the POST)"
		return []providers.Call{checkCall, post}
	}
	return nil
}
