package tickets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// GenericConfig configures POST /v1/ingest/tickets.
type GenericConfig struct {
	// Token is the bearer token bridges send (Authorization: Bearer <token>).
	Token   secret.Source
	MaxBody int64
	Timeout time.Duration
}

// Generic serves POST /v1/ingest/tickets, a documented ticket shape for
// bridges from ServiceNow, Zendesk, Linear and the like:
//
//	{"system": "servicenow", "id": "INC0012345", "url": "https://…",
//	 "title": "…", "body": "…", "reporter": "alice@example.com",
//	 "labels": {"env": "prod", "team": "payments"},
//	 "comments": [{"id": "c1", "author": "bob", "body": "…", "url": "https://…"}]}
//
// system and id are required. A delivery is identified by the
// Idempotency-Key header, or by the body's hash when there is none.
type Generic struct {
	cfg     GenericConfig
	scanner *Scanner
	pub     Publisher
	log     logrus.FieldLogger
	metrics *web.Metrics
}

// NewGeneric returns the handler; a token is required.
func NewGeneric(cfg GenericConfig, s *Scanner, pub Publisher, log logrus.FieldLogger, m *web.Metrics) (*Generic, error) {
	if cfg.Token == nil {
		return nil, errors.New("tickets: a token is required")
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
	return &Generic{cfg: cfg, scanner: s, pub: pub, log: log, metrics: m}, nil
}

// GenericTicket is the generic ticket document.
type GenericTicket struct {
	System   string            `json:"system"`
	ID       string            `json:"id"`
	URL      string            `json:"url"`
	Title    string            `json:"title"`
	Body     string            `json:"body"`
	Reporter string            `json:"reporter"`
	Labels   map[string]string `json:"labels"`
	Comments []struct {
		ID     string `json:"id"`
		Author string `json:"author"`
		Body   string `json:"body"`
		URL    string `json:"url"`
	} `json:"comments"`
}

// ParseGeneric parses and checks a generic ticket document; unknown fields
// are errors, so that a misspelt "body" is not silently left unscanned.
func ParseGeneric(body []byte) (*GenericTicket, error) {
	var g GenericTicket
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		if name, ok := web.UnknownField(err); ok {
			return nil, fmt.Errorf("unknown field %s (known: system, id, url, title, body, reporter, labels, comments)", web.FieldName(name))
		}
		return nil, errors.New(web.JSONError(err))
	}
	var missing []string
	if strings.TrimSpace(g.System) == "" {
		missing = append(missing, "system")
	}
	if strings.TrimSpace(g.ID) == "" {
		missing = append(missing, "id")
	}
	if len(missing) > 0 {
		return nil, errors.New("ticket is missing " + strings.Join(missing, ", "))
	}
	if !validToken(strings.ToLower(g.System)) {
		return nil, fmt.Errorf("system %s must be letters, digits, '-' or '_'", web.Quote(g.System, "value"))
	}
	for i, c := range g.Comments {
		if c.ID == "" {
			return nil, fmt.Errorf("comments[%d] is missing id", i)
		}
	}
	return &g, nil
}

func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Ticket turns the document into the ticket to scan.
func (g *GenericTicket) Ticket() Ticket {
	t := Ticket{System: strings.ToLower(g.System), Ref: g.ID, URL: g.URL, Labels: map[string]string{}}
	for k, v := range g.Labels {
		t.Labels[k] = v
	}
	if g.Reporter != "" {
		t.Labels["reporter"] = g.Reporter
	}
	if o := g.Labels["team"]; o != "" {
		t.Owner = o
	}
	t.Fields = append(t.Fields, Field{Name: "title", Text: g.Title}, Field{Name: "body", Text: g.Body})
	for _, c := range g.Comments {
		t.Fields = append(t.Fields, Field{Name: "comment", CommentID: c.ID, Text: c.Body, URL: c.URL})
	}
	return t
}

const sourceTicket = exposure.SourceTicket

// ServeHTTP implements http.Handler.
func (h *Generic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { h.metrics.Latency.WithLabelValues(sourceTicket).Observe(time.Since(start).Seconds()) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.metrics.Reject(w, sourceTicket, "method", http.StatusMethodNotAllowed, "use POST")
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak-tickets"`)
		h.metrics.Reject(w, sourceTicket, "auth", http.StatusUnauthorized, "missing bearer token")
		return
	}
	want, err := h.cfg.Token.Secret(r.Context())
	if err != nil {
		h.log.WithError(err).Error("tickets token unavailable")
		h.metrics.Reject(w, sourceTicket, "auth", http.StatusUnauthorized, "token cannot be checked")
		return
	}
	if !want.Matches([]byte(got)) { // constant time, lengths included
		h.metrics.Reject(w, sourceTicket, "auth", http.StatusUnauthorized, "unknown token")
		return
	}
	body, err := web.ReadBody(w, r, h.cfg.MaxBody)
	if err != nil {
		h.metrics.Rejected.WithLabelValues(sourceTicket, "body").Inc()
		web.BodyError(w, err, h.cfg.MaxBody)
		return
	}
	g, err := ParseGeneric(body)
	if err != nil {
		h.metrics.Reject(w, sourceTicket, "payload", http.StatusBadRequest, err.Error())
		return
	}
	delivery := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if delivery == "" {
		delivery = bodyHash(body)
	}
	t := g.Ticket()
	src := exposure.Source{Kind: sourceTicket, Ref: t.System + ":" + t.Ref, URL: t.URL, DeliveryID: delivery}
	serveDelivery(w, r, h.cfg.Timeout, h.scanner, h.pub, h.log, h.metrics, t, src)
}
