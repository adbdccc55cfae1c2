package github

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// The secret scanning partner program (docs.github.com, "Secret scanning
// partner program"): GitHub POSTs a JSON array of matches
// [{"token","type","url","source"}] found in public repositories to the
// partner's endpoint, with two headers:
//
//	Github-Public-Key-Identifier: which key_identifier of
//	    GET https://api.github.com/meta/public_keys/secret_scanning signed it;
//	Github-Public-Key-Signature: base64 of the ASN.1 DER ECDSA
//	    (NIST P-256, SHA-256) signature of the raw body.
//
// GitHub asks that large batches be answered without timing out; partners
// enrolled for false-positive feedback answer with a JSON array of
// {"token_hash" (hex SHA-256 of the token) or "token_raw", "token_type",
// "label": "true_positive"|"false_positive"} (GitHub then waits up to 30s).

// DefaultPartnerKeysURL is where GitHub publishes its signing keys.
const DefaultPartnerKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// KeyCache fetches GitHub's partner-program public keys and keeps them. An
// unknown identifier triggers one refetch (GitHub rotated its key); an
// identifier still unknown afterwards is remembered and never triggers
// another, and refetches are rate-limited (RefetchBurst at once, then one
// per RefetchEvery), so requests naming made-up identifiers never make
// Firebreak fetch per request.
type KeyCache struct {
	URL string // DefaultPartnerKeysURL when empty
	// Token, when set, authenticates the fetch (GitHub rate-limits
	// unauthenticated meta requests to 60 an hour); no scopes are needed.
	Token        secret.Source
	HTTPClient   *http.Client
	RefetchEvery time.Duration // default 1 minute
	RefetchBurst int           // default 3

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	unknown map[string]bool // identifiers refetched for and still unknown
	limiter *rate.Limiter
	lastErr error
	errAt   time.Time
	fetches int
}

// ErrUnknownKey is returned for an identifier GitHub does not publish.
var ErrUnknownKey = errors.New("unknown Github-Public-Key-Identifier")

// Fetches counts key fetches.
func (c *KeyCache) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// Key returns the public key named id, fetching the key list on first use
// and once more when id is unknown (rate-limited by MinRefetch). A fetch
// failure is returned as such (the caller answers 503); an identifier still
// unknown afterwards is ErrUnknownKey.
func (c *KeyCache) Key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.keys[id]; ok {
		return k, nil
	}
	if c.limiter == nil {
		every, burst := c.RefetchEvery, c.RefetchBurst
		if every <= 0 {
			every = time.Minute
		}
		if burst <= 0 {
			burst = 3
		}
		c.limiter = rate.NewLimiter(rate.Every(every), burst)
		c.unknown = map[string]bool{}
	}
	if c.keys == nil {
		// Never fetched successfully: try, but not more than once a second
		// while GitHub is unreachable.
		if c.lastErr != nil && time.Since(c.errAt) < time.Second {
			return nil, c.lastErr
		}
	} else if c.unknown[id] || !c.limiter.Allow() {
		return nil, ErrUnknownKey
	}
	if err := c.fetch(ctx); err != nil {
		c.lastErr, c.errAt = err, time.Now()
		return nil, err
	}
	c.lastErr = nil
	if k, ok := c.keys[id]; ok {
		return k, nil
	}
	if len(c.unknown) < 10000 {
		c.unknown[id] = true
	}
	return nil, ErrUnknownKey
}

// Prime fetches the keys now (at start), so the first request pays nothing.
func (c *KeyCache) Prime(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetch(ctx)
}

// PartnerKeys is GET /meta/public_keys/secret_scanning's answer.
type PartnerKeys struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// ParsePartnerKeys parses the key list; keys that are not PEM ECDSA P-256
// public keys are skipped, and an answer with none is an error.
func ParsePartnerKeys(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc PartnerKeys
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("partner keys: %s", web.JSONError(err))
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil || k.KeyIdentifier == "" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		if ek, ok := pub.(*ecdsa.PublicKey); ok && ek.Curve.Params().Name == "P-256" {
			out[k.KeyIdentifier] = ek
		}
	}
	if len(out) == 0 {
		return nil, errors.New("partner keys: no ECDSA P-256 public key in the answer")
	}
	return out, nil
}

func (c *KeyCache) fetch(ctx context.Context) error {
	u := c.URL
	if u == "" {
		u = DefaultPartnerKeysURL
	}
	c.fetches++
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("partner keys: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if c.Token != nil {
		tok, err := c.Token.Secret(ctx)
		if err != nil {
			return fmt.Errorf("partner keys token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("partner keys: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("partner keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("partner keys: GitHub answered %d", resp.StatusCode)
	}
	keys, err := ParsePartnerKeys(b)
	if err != nil {
		return err
	}
	c.keys = keys
	return nil
}

// ParsePartnerSignature decodes a Github-Public-Key-Signature value: base64
// (standard alphabet, padding optional) of an ASN.1 DER ECDSA signature.
func ParsePartnerSignature(h string) ([]byte, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return nil, errors.New("missing Github-Public-Key-Signature header")
	}
	if len(h) > 256 {
		return nil, errors.New("Github-Public-Key-Signature is too long for a P-256 signature")
	}
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(h, "="))
	}
	if err != nil {
		return nil, errors.New("Github-Public-Key-Signature is not base64")
	}
	// SEQUENCE { INTEGER r, INTEGER s }: at least 8 bytes, tag 0x30.
	if len(b) < 8 || b[0] != 0x30 {
		return nil, errors.New("Github-Public-Key-Signature is not an ASN.1 DER ECDSA signature")
	}
	return b, nil
}

// VerifyPartner checks sig (DER) over body with key.
func VerifyPartner(key *ecdsa.PublicKey, body, sig []byte) bool {
	sum := sha256.Sum256(body)
	return ecdsa.VerifyASN1(key, sum[:], sig)
}

// PartnerMatch is one match of a partner-program payload.
type PartnerMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// MaxPartnerMatches bounds one request.
const MaxPartnerMatches = 20000

// ParsePartner parses a partner-program payload. Error messages never echo a
// token.
func ParsePartner(body []byte) ([]PartnerMatch, error) {
	var ms []PartnerMatch
	if err := json.Unmarshal(body, &ms); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return nil, errors.New("payload must be a JSON array of {token, type, url, source}")
		}
		return nil, errors.New(web.JSONError(err))
	}
	if len(ms) > MaxPartnerMatches {
		return nil, fmt.Errorf("payload holds %d matches; at most %d per request", len(ms), MaxPartnerMatches)
	}
	for i, m := range ms {
		var missing []string
		if m.Token == "" {
			missing = append(missing, "token")
		}
		if m.Type == "" {
			missing = append(missing, "type")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("match %d is missing %s", i, strings.Join(missing, ", "))
		}
	}
	return ms, nil
}

// PartnerType maps a partner-program type (the name the partner gave GitHub
// for its token format) to Firebreak's provider and secret type.
type PartnerType struct {
	Provider string
	Type     string
}

// Verifier checks whether a token is live, for false-positive feedback.
// known is false when no provider can tell (no credentials, no verify API).
type Verifier interface {
	Verify(ctx context.Context, provider, secretType string, v secret.Value) (live, known bool, err error)
}

// PartnerConfig configures the partner endpoint.
type PartnerConfig struct {
	Keys    *KeyCache
	Sealer  *sealer.Sealer
	Detect  *detect.Scanner
	Types   map[string]PartnerType
	MaxBody int64
	Timeout time.Duration // default 20s (GitHub's own timeout is 10s, 30s with feedback)
	// Feedback answers with GitHub's feedback array (token_hash, token_type,
	// label) after verifying each token with Verifier, within
	// FeedbackTimeout (default 10s); tokens not verified in time get no label.
	Feedback        bool
	Verifier        Verifier
	FeedbackTimeout time.Duration
	// Concurrency bounds publishes in flight (default 128).
	Concurrency int
}

// Partner serves POST /v1/ingest/github/partner.
type Partner struct {
	cfg     PartnerConfig
	pub     Publisher
	log     logrus.FieldLogger
	metrics *web.Metrics
}

// NewPartner returns the partner-program handler.
func NewPartner(cfg PartnerConfig, pub Publisher, log logrus.FieldLogger, m *web.Metrics) (*Partner, error) {
	if cfg.Keys == nil || cfg.Sealer == nil {
		return nil, errors.New("github partner: Keys and Sealer are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = web.DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.FeedbackTimeout <= 0 {
		cfg.FeedbackTimeout = 10 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 128
	}
	if cfg.Detect == nil {
		cfg.Detect = detect.New()
	}
	if m == nil {
		m = web.NewMetrics(nil)
	}
	return &Partner{cfg: cfg, pub: pub, log: log, metrics: m}, nil
}

const sourcePartner = exposure.SourceGitHubPartner

// ServeHTTP implements http.Handler.
func (h *Partner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { h.metrics.Latency.WithLabelValues(sourcePartner).Observe(time.Since(start).Seconds()) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.metrics.Reject(w, sourcePartner, "method", http.StatusMethodNotAllowed, "use POST")
		return
	}
	body, err := web.ReadBody(w, r, h.cfg.MaxBody)
	if err != nil {
		h.metrics.Rejected.WithLabelValues(sourcePartner, "body").Inc()
		web.BodyError(w, err, h.cfg.MaxBody)
		return
	}
	kid := strings.TrimSpace(r.Header.Get("Github-Public-Key-Identifier"))
	if kid == "" {
		h.metrics.Reject(w, sourcePartner, "signature", http.StatusUnauthorized, "missing Github-Public-Key-Identifier header")
		return
	}
	sig, err := ParsePartnerSignature(r.Header.Get("Github-Public-Key-Signature"))
	if err != nil {
		h.metrics.Reject(w, sourcePartner, "signature", http.StatusUnauthorized, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	key, err := h.cfg.Keys.Key(ctx, kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		h.metrics.Reject(w, sourcePartner, "signature", http.StatusUnauthorized, "Github-Public-Key-Identifier names no key GitHub publishes")
		return
	case err != nil:
		h.log.WithError(err).Warn("GitHub partner keys unavailable")
		w.Header().Set("Retry-After", "30")
		h.metrics.Reject(w, sourcePartner, "keys", http.StatusServiceUnavailable, "GitHub's signing keys could not be fetched; retry")
		return
	}
	if !VerifyPartner(key, body, sig) {
		h.metrics.Reject(w, sourcePartner, "signature", http.StatusUnauthorized, "Github-Public-Key-Signature does not match the payload")
		return
	}
	matches, err := ParsePartner(body)
	if err != nil {
		h.metrics.Reject(w, sourcePartner, "payload", http.StatusBadRequest, err.Error())
		return
	}
	delivery := "sha256-" + hashHex(body)
	log := h.log.WithFields(logrus.Fields{"source": sourcePartner, "delivery": delivery, "matches": len(matches)})
	seen, err := h.pub.SeenDelivery(ctx, sourcePartner, delivery)
	if err != nil {
		log.WithError(err).Warn("delivery lookup failed")
		h.unavailable(w)
		return
	}
	if seen != nil && !h.cfg.Feedback {
		h.metrics.Requests.WithLabelValues(sourcePartner, "duplicate").Inc()
		web.JSON(w, http.StatusOK, map[string]any{"accepted": len(seen.ExposureIDs), "duplicate": true})
		return
	}
	var feedback []FeedbackEntry
	if h.cfg.Feedback {
		feedback = h.verify(ctx, matches)
	}
	if seen == nil {
		items := make([]sealer.Item, 0, len(matches))
		ids := make([]string, 0, len(matches))
		for _, m := range matches {
			e, err := h.exposure(ctx, m, delivery)
			if err != nil {
				log.WithError(err).Error("sealing failed")
				h.unavailable(w)
				return
			}
			items = append(items, sealer.Item{Event: e, MsgID: "partner:" + e.Secret.Fingerprint})
			ids = append(ids, e.ID)
		}
		if err := sealer.PublishAll(ctx, h.pub, items, h.cfg.Concurrency); err != nil {
			log.WithError(err).Warn("publish failed")
			h.unavailable(w)
			return
		}
		if err := h.pub.RememberDelivery(ctx, sourcePartner, delivery, ids); err != nil {
			log.WithError(err).Warn("could not remember the delivery")
		}
		for _, it := range items {
			h.metrics.Exposures.WithLabelValues(sourcePartner, it.Event.Secret.Provider, it.Event.Environment).Inc()
		}
		h.metrics.Requests.WithLabelValues(sourcePartner, "accepted").Inc()
		log.Info("partner matches accepted")
	}
	if h.cfg.Feedback {
		if feedback == nil {
			feedback = []FeedbackEntry{}
		}
		web.JSON(w, http.StatusOK, feedback)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"accepted": len(matches)})
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (h *Partner) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	h.metrics.Reject(w, sourcePartner, "unavailable", http.StatusServiceUnavailable,
		"the matches could not be stored durably; retry the delivery")
}

// classify names the provider and type of a partner match: the configured
// mapping, else the type itself when it is a known slug, else what the
// detectors say the token is.
func (h *Partner) classify(m PartnerMatch) (provider, typ, keyID string) {
	if t, ok := h.cfg.Types[m.Type]; ok {
		return t.Provider, t.Type, ""
	}
	if p := exposure.ProviderForType(m.Type); p != "unknown" {
		return p, m.Type, ""
	}
	b := []byte(m.Token)
	var found []detect.Finding
	h.cfg.Detect.Scan(b, func(f detect.Finding) { found = append(found, f) })
	if len(found) == 1 && found[0].Start == 0 && found[0].End == len(b) {
		return found[0].Provider, found[0].Type, found[0].KeyID
	}
	return "unknown", m.Type, ""
}

func (h *Partner) exposure(ctx context.Context, m PartnerMatch, delivery string) (*exposure.Event, error) {
	provider, typ, keyID := h.classify(m)
	labels := map[string]string{"partner_type": m.Type}
	if m.Source != "" {
		labels["found_in"] = m.Source
	}
	loc := exposure.Location{URL: m.URL, Labels: labels, Display: "public GitHub " + strings.ReplaceAll(orDefault(m.Source, "content"), "_", " ")}
	if u, err := url.Parse(m.URL); err == nil && (u.Host == "github.com" || u.Host == "gist.github.com") {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) >= 2 && u.Host == "github.com" {
			loc.Repo = parts[0] + "/" + parts[1]
			loc.Display += ": " + loc.Repo
		}
		if len(parts) >= 5 && parts[2] == "blob" {
			loc.Commit, loc.Path = parts[3], strings.Join(parts[4:], "/")
		}
	}
	e := &exposure.Event{
		Source:   exposure.Source{Kind: sourcePartner, Ref: m.URL, URL: m.URL, DeliveryID: delivery},
		Secret:   exposure.Secret{Provider: provider, Type: typ, KeyID: keyID},
		Location: loc, Environment: exposure.Environment(nil, "", loc.Path, ""),
		Correlation: "ghp-" + delivery[len("sha256-"):len("sha256-")+16],
	}
	v := secret.New(m.Token)
	defer v.Wipe()
	if err := h.cfg.Sealer.Seal(ctx, v, e); err != nil {
		return nil, err
	}
	return e, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// FeedbackEntry is one element of the feedback answer. The token is sent
// hashed (hex SHA-256), never raw.
type FeedbackEntry struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// verify labels each distinct token: live → true_positive, definitively not
// live → false_positive; no label when the provider cannot tell or did not
// answer in time. It runs before the exposures are published, so that a
// responder revoking the key cannot make a live key look dead.
func (h *Partner) verify(ctx context.Context, matches []PartnerMatch) []FeedbackEntry {
	if h.cfg.Verifier == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.FeedbackTimeout)
	defer cancel()
	type res struct {
		i     int
		label string
	}
	out := make(chan res, len(matches))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for i, m := range matches {
		if seen[m.Token] {
			continue
		}
		seen[m.Token] = true
		wg.Add(1)
		go func(i int, m PartnerMatch) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			provider, typ, _ := h.classify(m)
			v := secret.New(m.Token)
			defer v.Wipe()
			live, known, err := h.cfg.Verifier.Verify(ctx, provider, typ, v)
			if err != nil || !known {
				return
			}
			label := "false_positive"
			if live {
				label = "true_positive"
			}
			out <- res{i, label}
		}(i, m)
	}
	wg.Wait()
	close(out)
	var fb []FeedbackEntry
	for r := range out {
		sum := sha256.Sum256([]byte(matches[r.i].Token))
		fb = append(fb, FeedbackEntry{TokenHash: hex.EncodeToString(sum[:]), TokenType: matches[r.i].Type, Label: r.label})
	}
	return fb
}
