package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets/adf"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// ProjectHint maps a Jira project key to an environment and an owner.
type ProjectHint struct {
	Environment string
	Owner       string
}

// JiraConfig configures the Jira webhook handler.
type JiraConfig struct {
	// Secret is the webhook secret set on the Jira admin webhook; when set,
	// X-Hub-Signature is required and verified. Without it, anyone who can
	// reach the route can post (run it behind a private network).
	Secret secret.Source
	// SiteURL is the Jira site (https://acme.atlassian.net) for browse
	// links; derived from the payload's issue.self when empty.
	SiteURL string
	// Projects maps project keys to hints.
	Projects map[string]ProjectHint
	MaxBody  int64
	Timeout  time.Duration
}

// Jira serves POST /v1/ingest/jira: Jira Cloud webhooks
// (developer.atlassian.com/cloud/jira/platform/webhooks): jira:issue_created
// and jira:issue_updated (summary, description) and comment_created and
// comment_updated (the comment body). Descriptions and bodies arrive as
// plain text (the webhook's REST v2 rendering) or as Atlassian Document
// Format; both are scanned, and so is the issue's metadata: its key, project,
// labels (fields.labels, carried in the jira_labels label) and comment id. A delivery is identified by
// X-Atlassian-Webhook-Identifier, which Jira keeps across its retries; a
// repeated identifier is answered 200 {"duplicate":true} and publishes
// nothing. With a secret configured, X-Hub-Signature ("sha256=<hex>" HMAC of
// the raw body) is verified; a mismatch is 401 and nothing is published.
type Jira struct {
	cfg     JiraConfig
	scanner *Scanner
	pub     Publisher
	log     logrus.FieldLogger
	metrics *web.Metrics
}

// NewJira returns the Jira handler.
func NewJira(cfg JiraConfig, s *Scanner, pub Publisher, log logrus.FieldLogger, m *web.Metrics) *Jira {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = web.DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 8 * time.Second
	}
	if m == nil {
		m = web.NewMetrics(nil)
	}
	return &Jira{cfg: cfg, scanner: s, pub: pub, log: log, metrics: m}
}

// JiraPayload is the part of a Jira webhook body Firebreak reads.
type JiraPayload struct {
	Timestamp    int64  `json:"timestamp"`
	WebhookEvent string `json:"webhookEvent"`
	Issue        *struct {
		ID     string `json:"id"`
		Self   string `json:"self"`
		Key    string `json:"key"`
		Fields struct {
			Summary     string          `json:"summary"`
			Description json.RawMessage `json:"description"`
			Project     struct {
				Key string `json:"key"`
			} `json:"project"`
			// Labels is a JSON array of strings in Jira Cloud; anything
			// else is kept as its JSON text (still scanned, not refused).
			Labels json.RawMessage `json:"labels"`
		} `json:"fields"`
	} `json:"issue"`
	Comment *struct {
		ID   string          `json:"id"`
		Self string          `json:"self"`
		Body json.RawMessage `json:"body"`
	} `json:"comment"`
}

// jiraEvents are the webhook events scanned.
var jiraEvents = map[string]bool{"jira:issue_created": true, "jira:issue_updated": true, "comment_created": true, "comment_updated": true}

// ParseJira parses and checks a Jira webhook body. ignored is non-empty for
// a well-formed event Firebreak does not scan.
func ParseJira(body []byte) (p *JiraPayload, ignored string, err error) {
	p = &JiraPayload{}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, "", errors.New(web.JSONError(err))
	}
	if p.WebhookEvent == "" {
		return nil, "", errors.New("payload is missing webhookEvent")
	}
	if !jiraEvents[p.WebhookEvent] {
		return p, fmt.Sprintf("webhookEvent %s is not scanned", web.Quote(p.WebhookEvent, "value")), nil
	}
	if p.Issue == nil || p.Issue.Key == "" {
		return nil, "", errors.New("payload is missing issue.key")
	}
	if strings.HasPrefix(p.WebhookEvent, "comment_") && (p.Comment == nil || p.Comment.ID == "") {
		return nil, "", errors.New("payload is missing comment.id")
	}
	return p, "", nil
}

// RichText returns the text of a description or comment body: a JSON
// string (plain or wiki markup), an ADF document, or null.
func RichText(raw json.RawMessage) (string, error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return "", nil
	}
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return adf.Text(raw)
}

// Ticket turns a parsed payload into the ticket to scan.
func (p *JiraPayload) Ticket(site string, hints map[string]ProjectHint) (Ticket, error) {
	is := p.Issue
	if site == "" {
		if u, err := url.Parse(is.Self); err == nil && u.Host != "" {
			site = u.Scheme + "://" + u.Host
		}
	}
	t := Ticket{System: "jira", Ref: is.Key, Project: is.Fields.Project.Key,
		Labels: map[string]string{LabelIssue: is.Key}}
	if t.Project == "" {
		t.Project, _, _ = strings.Cut(is.Key, "-")
	}
	if site != "" {
		t.URL = strings.TrimRight(site, "/") + "/browse/" + is.Key
	}
	if h, ok := hints[t.Project]; ok {
		t.Environment, t.Owner = h.Environment, h.Owner
	}
	if l := jiraLabels(is.Fields.Labels); l != "" {
		t.Labels[LabelJiraLabels] = l
	}
	if strings.HasPrefix(p.WebhookEvent, "comment_") {
		text, err := RichText(p.Comment.Body)
		if err != nil {
			return Ticket{}, fmt.Errorf("comment.body: %w", err)
		}
		f := Field{Name: "comment", CommentID: p.Comment.ID, Text: text}
		if t.URL != "" {
			f.URL = t.URL + "?focusedCommentId=" + url.QueryEscape(p.Comment.ID)
		}
		t.Fields = append(t.Fields, f)
		return t, nil
	}
	desc, err := RichText(is.Fields.Description)
	if err != nil {
		return Ticket{}, fmt.Errorf("issue.fields.description: %w", err)
	}
	t.Fields = append(t.Fields, Field{Name: "summary", Text: is.Fields.Summary}, Field{Name: "description", Text: desc})
	return t, nil
}

// jiraLabels returns an issue's labels (fields.labels) separated by spaces,
// "" for none; a value that is not an array of strings is returned as its
// JSON text, so that what it holds is still scanned.
func jiraLabels(raw json.RawMessage) string {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return ""
	}
	var ls []string
	if err := json.Unmarshal(raw, &ls); err != nil {
		return t
	}
	return strings.TrimSpace(strings.Join(ls, " "))
}

const sourceJira = exposure.SourceJira

// ServeHTTP implements http.Handler.
func (h *Jira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { h.metrics.Latency.WithLabelValues(sourceJira).Observe(time.Since(start).Seconds()) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.metrics.Reject(w, sourceJira, "method", http.StatusMethodNotAllowed, "use POST")
		return
	}
	body, err := web.ReadBody(w, r, h.cfg.MaxBody)
	if err != nil {
		h.metrics.Rejected.WithLabelValues(sourceJira, "body").Inc()
		web.BodyError(w, err, h.cfg.MaxBody)
		return
	}
	if h.cfg.Secret != nil {
		key, err := h.cfg.Secret.Secret(r.Context())
		if err != nil {
			h.log.WithError(err).Error("jira webhook secret unavailable")
			h.metrics.Reject(w, sourceJira, "signature", http.StatusUnauthorized, "signature cannot be checked")
			return
		}
		if msg := verifyHMAC(key, r.Header.Get("X-Hub-Signature"), body); msg != "" {
			h.metrics.Reject(w, sourceJira, "signature", http.StatusUnauthorized, msg)
			return
		}
	}
	p, ignored, err := ParseJira(body)
	if err != nil {
		h.metrics.Reject(w, sourceJira, "payload", http.StatusBadRequest, err.Error())
		return
	}
	if ignored != "" {
		h.metrics.Requests.WithLabelValues(sourceJira, "ignored").Inc()
		web.JSON(w, http.StatusAccepted, map[string]any{"ignored": true, "reason": ignored})
		return
	}
	t, err := p.Ticket(h.cfg.SiteURL, h.cfg.Projects)
	if err != nil {
		h.metrics.Reject(w, sourceJira, "payload", http.StatusBadRequest, err.Error())
		return
	}
	delivery := r.Header.Get("X-Atlassian-Webhook-Identifier")
	if delivery == "" {
		delivery = bodyHash(body)
	}
	src := exposure.Source{Kind: sourceJira, Ref: t.Ref, URL: t.URL, DeliveryID: delivery}
	serveDelivery(w, r, h.cfg.Timeout, h.scanner, h.pub, h.log, h.metrics, t, src)
}

// serveDelivery publishes a ticket delivery and answers: 202 with the
// exposure ids, 200 for a duplicate, 503 when the bus is unavailable.
func serveDelivery(w http.ResponseWriter, r *http.Request, timeout time.Duration, s *Scanner, pub Publisher,
	log logrus.FieldLogger, m *web.Metrics, t Ticket, src exposure.Source) {
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The ticket's ref is logged as the exposures carry it: redacted.
	out, err := s.Deliver(ctx, pub, t, src)
	lg := log.WithFields(logrus.Fields{"source": src.Kind, "delivery": src.DeliveryID})
	if out.Ticket != "" {
		lg = lg.WithField("ticket", out.Ticket)
	}
	if err != nil {
		lg.WithError(err).Warn("ticket delivery not stored")
		w.Header().Set("Retry-After", "5")
		m.Reject(w, src.Kind, "unavailable", http.StatusServiceUnavailable, "the exposures could not be stored durably; retry the delivery")
		return
	}
	if out.Duplicate {
		m.Requests.WithLabelValues(src.Kind, "duplicate").Inc()
		web.JSON(w, http.StatusOK, map[string]any{"duplicate": true, "exposure_ids": out.ExposureIDs})
		return
	}
	m.Requests.WithLabelValues(src.Kind, "accepted").Inc()
	if len(out.ExposureIDs) > 0 {
		lg.WithField("exposures", len(out.ExposureIDs)).Info("secrets found in a ticket")
	}
	ids := out.ExposureIDs
	if ids == nil {
		ids = []string{}
	}
	web.JSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "findings": len(ids), "exposure_ids": ids})
}
