package github

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// OpApp names GitHub App authentication calls in errors.
const OpApp providers.Op = "app_token"

// AppConfig configures GitHub App authentication.
//
// A GitHub App authenticates in two steps (docs.github.com, "Authenticating as
// a GitHub App" and "Generating an installation access token for a GitHub
// App"):
//
//  1. it signs a JSON Web Token with its private key: RS256, claims iat (60
//     seconds in the past, against clock drift), exp (at most 10 minutes after
//     iat) and iss (the App's ID or client ID);
//  2. it exchanges the JWT for an installation access token:
//     POST /app/installations/{installation_id}/access_tokens with
//     "Authorization: Bearer <JWT>", answered 201
//     {"token":"ghs_…","expires_at":"2016-07-11T22:14:10Z","permissions":{…}}.
//     Installation tokens live one hour.
type AppConfig struct {
	// AppID is the App's numeric ID (or its client ID, "Iv1.…"): the JWT's iss.
	AppID string
	// InstallationID is the installation on the organization or account
	// whose alerts Firebreak reads and resolves.
	InstallationID int64
	// PrivateKey resolves the App's PEM private key (PKCS#1 as GitHub
	// generates it, or PKCS#8). It is a secret reference in configuration.
	PrivateKey secret.Source
	// BaseURL of the REST API; DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient sends the exchange; http.DefaultClient when nil.
	HTTPClient *http.Client
	// RefreshBefore is how long before its expiry a cached installation
	// token is replaced (default 5 minutes), so that no request goes out
	// with a token about to expire.
	RefreshBefore time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// AppTokenSource is a secret.Source of installation access tokens: it keeps
// the current token in memory and exchanges a new JWT for a fresh one when
// the cached token is within RefreshBefore of its expiry. Concurrent callers
// share one exchange.
type AppTokenSource struct {
	cfg AppConfig
	api providers.API

	mu      sync.Mutex
	token   secret.Value
	expires time.Time
	// Exchanges counts token exchanges (for logs and tests).
	exchanges int
}

var _ secret.Source = (*AppTokenSource)(nil)

// NewAppTokenSource checks the configuration (it resolves nothing yet).
func NewAppTokenSource(cfg AppConfig) (*AppTokenSource, error) {
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, errors.New("github app: app_id is required")
	}
	if cfg.InstallationID <= 0 {
		return nil, errors.New("github app: installation_id must be a positive number")
	}
	if cfg.PrivateKey == nil {
		return nil, errors.New("github app: private_key is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &AppTokenSource{cfg: cfg, api: providers.API{
		Provider: Name, BaseURL: strings.TrimRight(cfg.BaseURL, "/"), Client: cfg.HTTPClient,
		ErrorMessage: errorMessage, AdjustError: adjustError,
		Header: func(h http.Header) {
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", APIVersion)
		},
	}}, nil
}

// String names the source without revealing anything.
func (s *AppTokenSource) String() string {
	return fmt.Sprintf("github-app:%s/installation:%d", s.cfg.AppID, s.cfg.InstallationID)
}

// Exchanges returns how many installation tokens were obtained.
func (s *AppTokenSource) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

// Secret implements secret.Source: the current installation token.
func (s *AppTokenSource) Secret(ctx context.Context) (secret.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if !s.token.IsZero() && now.Add(s.cfg.RefreshBefore).Before(s.expires) {
		return s.token, nil
	}
	tok, exp, err := s.exchange(ctx, now)
	if err != nil {
		return secret.Value{}, err
	}
	s.token, s.expires = tok, exp
	s.exchanges++
	return tok, nil
}

// JWT returns a signed App JWT valid from now-60s to now+9m.
func (s *AppTokenSource) JWT(ctx context.Context, now time.Time) (secret.Value, error) {
	keyPEM, err := s.cfg.PrivateKey.Secret(ctx)
	if err != nil {
		return secret.Value{}, fmt.Errorf("github app private key: %w", err)
	}
	key, err := ParseRSAPrivateKey(keyPEM)
	if err != nil {
		return secret.Value{}, &providers.Error{Provider: Name, Op: OpApp, Class: providers.Permanent, Err: err}
	}
	claims := jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(now.Add(-60 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
		Issuer:    s.cfg.AppID,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return secret.Value{}, &providers.Error{Provider: Name, Op: OpApp, Class: providers.Permanent, Err: fmt.Errorf("sign app JWT: %w", err)}
	}
	return secret.New(signed), nil
}

func (s *AppTokenSource) exchange(ctx context.Context, now time.Time) (secret.Value, time.Time, error) {
	j, err := s.JWT(ctx, now)
	if err != nil {
		return secret.Value{}, time.Time{}, err
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	_, _, err = s.api.Do(ctx, providers.Request{
		Op: OpApp, Method: http.MethodPost,
		Path:   "/app/installations/" + strconv.FormatInt(s.cfg.InstallationID, 10) + "/access_tokens",
		Header: bearer(j), Scrub: j, Out: &out,
	})
	if err != nil {
		return secret.Value{}, time.Time{}, fmt.Errorf("github app installation token: %w", err)
	}
	if out.Token == "" {
		return secret.Value{}, time.Time{}, &providers.Error{Provider: Name, Op: OpApp, Class: providers.Retryable,
			Message: "GitHub answered the token exchange without a token"}
	}
	tok := secret.New(out.Token)
	out.Token = ""
	if out.ExpiresAt.IsZero() {
		out.ExpiresAt = now.Add(time.Hour)
	}
	return tok, out.ExpiresAt, nil
}

// ParseRSAPrivateKey parses a PEM RSA private key (PKCS#1 or PKCS#8). Errors
// never include key material.
func ParseRSAPrivateKey(v secret.Value) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(v.Bytes())
	if block == nil {
		return nil, errors.New("github app private key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("github app private key is neither PKCS#1 nor PKCS#8 RSA")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("github app private key is not an RSA key")
	}
	return rk, nil
}
