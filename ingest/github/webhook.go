// Package github ingests GitHub: webhooks at POST /v1/ingest/github (it
// verifies X-Hub-Signature-256, turns secret-scanning alerts into exposures,
// scans `issues` and `issue_comment` text for pasted secrets, and publishes,
// answering only after JetStream acknowledged the publish); the secret
// scanning partner program at POST /v1/ingest/github/partner (partner.go);
// and the alert backfill poller (poller.go).
//
// A secret-scanning alert webhook carries no secret: the exposure names the
// alert, and the responder fetches the secret from GitHub's API in memory.
package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// Publisher is what the handler needs from the bus (*bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, e *exposure.Event, msgID string) (bus.PublishResult, error)
	SeenDelivery(ctx context.Context, source, id string) (*bus.Delivery, error)
	RememberDelivery(ctx context.Context, source, id string, exposureIDs []string) error
}

// Config configures the webhook handler.
type Config struct {
	// Secret is the webhook secret configured on GitHub.
	Secret secret.Source
	// MaxBody bounds the request body (default 25 MiB, GitHub's own cap).
	MaxBody int64
	// Timeout bounds the durable publish (default 8s: GitHub gives a webhook
	// 10s; past that it records a failed delivery). On timeout the answer is 503.
	Timeout time.Duration
	// Tickets, when set, scans the titles, bodies and comments of `issues`
	// and `issue_comment` events for secrets; nil ignores those events.
	Tickets *tickets.Scanner
	// Alerts, when set, records the state of every alert a
	// secret_scanning_alert webhook announced (see alertState), so that the
	// backfill poller neither makes a second exposure of it nor misses it
	// reopened while its webhook was lost.
	Alerts AlertLedger
}

// AlertLedger records alerts' states (AlertOpen, AlertResolved) with
// GitHub's updated_at, zero when unknown (*Ledger, over the KV bucket).
type AlertLedger interface {
	MarkAlert(ctx context.Context, repo string, number int64, state string, updatedAt time.Time) error
}

// Handler serves POST /v1/ingest/github.
type Handler struct {
	cfg     Config
	pub     Publisher
	log     logrus.FieldLogger
	metrics *web.Metrics
	now     func() time.Time
}

// New returns the webhook handler.
func New(cfg Config, pub Publisher, log logrus.FieldLogger, m *web.Metrics) (*Handler, error) {
	if cfg.Secret == nil {
		return nil, errors.New("github webhook: a webhook secret is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = web.DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 8 * time.Second
	}
	if m == nil {
		m = web.NewMetrics(nil)
	}
	return &Handler{cfg: cfg, pub: pub, log: log, metrics: m, now: time.Now}, nil
}

// Actions of secret_scanning_alert that become exposures.
var alertActions = map[string]bool{
	"created": true, "reopened": true, "publicly_leaked": true, "validated": true, "resolved": true,
}

const source = exposure.SourceGitHub

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	defer func() { h.metrics.Latency.WithLabelValues(source).Observe(time.Since(start).Seconds()) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.metrics.Reject(w, source, "method", http.StatusMethodNotAllowed, "use POST")
		return
	}
	body, err := web.ReadBody(w, r, h.cfg.MaxBody)
	if err != nil {
		reason := "body"
		if errors.Is(err, web.ErrTooLarge) {
			reason = "too_large"
		}
		h.metrics.Rejected.WithLabelValues(source, reason).Inc()
		h.metrics.Requests.WithLabelValues(source, "rejected").Inc()
		web.BodyError(w, err, h.cfg.MaxBody)
		return
	}
	if status, msg := h.verify(r.Context(), r.Header.Get("X-Hub-Signature-256"), body); msg != "" {
		h.metrics.Reject(w, source, "signature", status, msg)
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	log := h.log.WithFields(logrus.Fields{"source": source, "event": event, "delivery": delivery})
	switch event {
	case "":
		h.metrics.Reject(w, source, "event", http.StatusBadRequest, "missing X-GitHub-Event header")
		return
	case "ping":
		h.metrics.Requests.WithLabelValues(source, "ping").Inc()
		web.JSON(w, http.StatusOK, map[string]any{"ok": true, "event": "ping"})
		return
	case "secret_scanning_alert", "secret_scanning_alert_location":
	case "issues", "issue_comment":
		if h.cfg.Tickets != nil {
			if delivery == "" {
				h.metrics.Reject(w, source, "delivery", http.StatusBadRequest, "missing X-GitHub-Delivery header")
				return
			}
			h.serveIssue(w, r, event, delivery, body, log)
			return
		}
		h.metrics.Requests.WithLabelValues(source, "ignored").Inc()
		web.JSON(w, http.StatusAccepted, map[string]any{"ignored": true,
			"reason": fmt.Sprintf("event %s is not scanned (tickets scanning is off)", web.Quote(event, "name"))})
		return
	default:
		h.metrics.Requests.WithLabelValues(source, "ignored").Inc()
		web.JSON(w, http.StatusAccepted, map[string]any{"ignored": true,
			"reason": fmt.Sprintf("event %s is not handled by this ingester", web.Quote(event, "name"))})
		return
	}
	if delivery == "" {
		h.metrics.Reject(w, source, "delivery", http.StatusBadRequest, "missing X-GitHub-Delivery header")
		return
	}
	var p alertPayload
	if err := json.Unmarshal(body, &p); err != nil {
		h.metrics.Reject(w, source, "json", http.StatusBadRequest, web.JSONError(err))
		return
	}
	if msg := p.validate(event); msg != "" {
		h.metrics.Reject(w, source, "payload", http.StatusBadRequest, msg)
		return
	}
	if event == "secret_scanning_alert" && !alertActions[p.Action] {
		h.metrics.Requests.WithLabelValues(source, "ignored").Inc()
		web.JSON(w, http.StatusAccepted, map[string]any{"ignored": true,
			"reason": fmt.Sprintf("secret_scanning_alert action %s needs no response", web.Quote(p.Action, "value"))})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	seen, err := h.pub.SeenDelivery(ctx, source, delivery)
	if err != nil {
		log.WithError(err).Warn("delivery lookup failed")
		h.unavailable(w)
		return
	}
	if seen != nil {
		h.metrics.Requests.WithLabelValues(source, "duplicate").Inc()
		web.JSON(w, http.StatusOK, map[string]any{"duplicate": true, "exposure_ids": seen.ExposureIDs})
		return
	}
	e := h.exposure(&p, event, delivery)
	res, err := h.pub.Publish(ctx, e, "github:"+delivery)
	if err != nil {
		log.WithError(err).Warn("publish failed")
		h.unavailable(w)
		return
	}
	if h.cfg.Alerts != nil && event == "secret_scanning_alert" {
		// The exposure is durable: a marker not written is a warning. The
		// poller then publishes the alert once more (never published:
		// "created") or misses its reopening (a resolution not recorded).
		if err := h.cfg.Alerts.MarkAlert(ctx, p.Repository.FullName, p.Alert.Number, p.alertState(), p.Alert.UpdatedAt); err != nil {
			log.WithError(err).Warn("could not record the alert's state for the poller")
		}
	}
	if err := h.pub.RememberDelivery(ctx, source, delivery, []string{e.ID}); err != nil {
		// The exposure is durable; a redelivery is still caught by the
		// duplicate window and by the incident's fingerprint.
		log.WithError(err).Warn("could not remember the delivery")
	}
	h.metrics.Requests.WithLabelValues(source, "accepted").Inc()
	h.metrics.Exposures.WithLabelValues(source, e.Secret.Provider, e.Environment).Inc()
	log.WithFields(logrus.Fields{"exposure": e.ID, "provider": e.Secret.Provider, "alert": e.Source.Ref,
		"stream_seq": res.Sequence}).Info("exposure accepted")
	web.JSON(w, http.StatusAccepted, map[string]any{"exposure_id": e.ID, "status": "accepted"})
}

func (h *Handler) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	h.metrics.Reject(w, source, "unavailable", http.StatusServiceUnavailable,
		"the exposure could not be stored durably; retry the delivery")
}

// verify checks X-Hub-Signature-256 in constant time. It returns the status
// and reason for rejection (401 for a missing or wrong signature, 503 when
// the webhook secret cannot be read here: a server-side problem), or "" when
// the signature is valid.
func (h *Handler) verify(ctx context.Context, header string, body []byte) (int, string) {
	if header == "" {
		return http.StatusUnauthorized, "missing X-Hub-Signature-256 header"
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return http.StatusUnauthorized, "X-Hub-Signature-256 must be sha256=<hex>"
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return http.StatusUnauthorized, "X-Hub-Signature-256 must be sha256=<64 hex digits>"
	}
	key, err := h.cfg.Secret.Secret(ctx)
	if err != nil {
		h.log.WithError(err).Error("webhook secret unavailable")
		return http.StatusServiceUnavailable, "the webhook secret is unavailable on the server; the signature cannot be checked"
	}
	if !hmac.Equal(got, Sign(key, body)) {
		return http.StatusUnauthorized, "X-Hub-Signature-256 does not match the payload"
	}
	return http.StatusOK, ""
}

// Sign returns the HMAC-SHA256 of body under key, as GitHub computes it.
func Sign(key secret.Value, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader returns the X-Hub-Signature-256 value for body.
func SignatureHeader(key secret.Value, body []byte) string {
	return "sha256=" + hex.EncodeToString(Sign(key, body))
}

func (h *Handler) exposure(p *alertPayload, event, delivery string) *exposure.Event {
	now := h.now().UTC()
	a := p.Alert
	e := &exposure.Event{
		ID:     exposure.NewID(now),
		Schema: exposure.Schema,
		Source: exposure.Source{Kind: source, Ref: fmt.Sprintf("%s#%d", p.Repository.FullName, a.Number),
			URL: a.HTMLURL, DeliveryID: delivery},
		Secret:      exposure.Secret{Provider: exposure.ProviderForType(a.SecretType), Type: a.SecretType},
		Location:    exposure.Location{Repo: p.Repository.FullName, URL: a.HTMLURL},
		Environment: exposure.EnvUnknown,
		ObservedAt:  a.CreatedAt,
		ReceivedAt:  now,
		Correlation: "gh-" + delivery,
		Alert: &exposure.Alert{Repository: p.Repository.FullName, Number: a.Number, Action: p.Action,
			Resolution: a.Resolution},
	}
	if a.ResolvedBy != nil {
		e.Alert.ResolvedBy = a.ResolvedBy.Login
	}
	if p.Sender != nil {
		e.Alert.Sender = p.Sender.Login
	}
	if e.ObservedAt.IsZero() {
		e.ObservedAt = now
	}
	if event == "secret_scanning_alert_location" && p.Location != nil {
		e.Alert.Action = "location_" + p.Action
		d := p.Location.Details
		e.Location.Path, e.Location.Line, e.Location.Commit = d.Path, d.StartLine, d.CommitSHA
		if d.BlobURL != "" {
			e.Location.URL = d.BlobURL
		}
		if d.Path == "" {
			e.Location.URL = firstNonEmpty(d.IssueTitleURL, d.IssueBodyURL, d.IssueCommentURL, d.PullRequestBodyURL,
				d.PullRequestCommentURL, d.DiscussionBodyURL, d.DiscussionCommentURL, e.Location.URL)
		}
		e.Environment = exposure.Environment(nil, "", d.Path, "")
	}
	return e
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// alertPayload is the part of GitHub's secret_scanning_alert and
// secret_scanning_alert_location webhook payloads Firebreak reads
// (docs.github.com: "Webhook events and payloads").
type alertPayload struct {
	Action string `json:"action"`
	Alert  struct {
		Number                int64      `json:"number"`
		CreatedAt             time.Time  `json:"created_at"`
		URL                   string     `json:"url"`
		HTMLURL               string     `json:"html_url"`
		LocationsURL          string     `json:"locations_url"`
		State                 string     `json:"state"`
		Resolution            string     `json:"resolution"`
		ResolvedBy            *ghUser    `json:"resolved_by"`
		SecretType            string     `json:"secret_type"`
		SecretTypeDisplayName string     `json:"secret_type_display_name"`
		Validity              string     `json:"validity"`
		PubliclyLeaked        bool       `json:"publicly_leaked"`
		ResolvedAt            *time.Time `json:"resolved_at"`
		UpdatedAt             time.Time  `json:"updated_at"` // null: zero
	} `json:"alert"`
	Location   *alertLocation `json:"location"`
	Repository struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
	Sender *ghUser `json:"sender"`
}

type ghUser struct {
	Login string `json:"login"`
}

type alertLocation struct {
	Type    string `json:"type"`
	Details struct {
		Path                  string `json:"path"`
		StartLine             int    `json:"start_line"`
		CommitSHA             string `json:"commit_sha"`
		BlobURL               string `json:"blob_url"`
		IssueTitleURL         string `json:"issue_title_url"`
		IssueBodyURL          string `json:"issue_body_url"`
		IssueCommentURL       string `json:"issue_comment_url"`
		PullRequestBodyURL    string `json:"pull_request_body_url"`
		PullRequestCommentURL string `json:"pull_request_comment_url"`
		DiscussionBodyURL     string `json:"discussion_body_url"`
		DiscussionCommentURL  string `json:"discussion_comment_url"`
	} `json:"details"`
}

// alertState is the alert's state a secret_scanning_alert webhook tells:
// resolved for the resolved action, and for an acting action (created,
// reopened, publicly_leaked, validated) open — unless the payload's alert
// says resolved (should GitHub report a resolved alert leaked or
// validated, the alert is still resolved).
func (p *alertPayload) alertState() string {
	if p.Action == "resolved" || p.Alert.State == AlertResolved {
		return AlertResolved
	}
	return AlertOpen
}

func (p *alertPayload) validate(event string) string {
	var missing []string
	if p.Action == "" {
		missing = append(missing, "action")
	}
	if p.Alert.Number <= 0 {
		missing = append(missing, "alert.number")
	}
	if p.Alert.SecretType == "" {
		missing = append(missing, "alert.secret_type")
	}
	if owner, name, ok := strings.Cut(p.Repository.FullName, "/"); !ok || owner == "" || name == "" {
		missing = append(missing, "repository.full_name (owner/name)")
	}
	if event == "secret_scanning_alert_location" && p.Location == nil {
		missing = append(missing, "location")
	}
	if len(missing) > 0 {
		return "payload is missing " + strings.Join(missing, ", ")
	}
	return ""
}
