package logsink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// Config configures the HTTP sinks.
type Config struct {
	// MaxBody bounds a request body after decompression (default 25 MiB).
	MaxBody int64
	// Timeout bounds the durable publishes of one request (default 8s); past
	// it the answer is 503 and the sender retries.
	Timeout time.Duration
	// Tokens accepted by each sink. A sink with no tokens accepts nothing.
	Logs, HEC, Loki, Scan Tokens
	// Ready reports whether exposures can be published (Loki's GET /ready,
	// HEC's health endpoint); nil: always ready.
	Ready func(ctx context.Context) error
}

// Sinks serves the HTTP log sinks.
type Sinks struct {
	cfg     Config
	p       *Pipeline
	metrics *web.Metrics
	log     logrus.FieldLogger
	acks    *hecAcks
}

// New returns the HTTP sinks over the pipeline.
func New(cfg Config, p *Pipeline, m *web.Metrics, log logrus.FieldLogger) *Sinks {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = web.DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 8 * time.Second
	}
	if m == nil {
		m = web.NewMetrics(nil)
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		log = l
	}
	return &Sinks{cfg: cfg, p: p, metrics: m, log: log, acks: newHECAcks()}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// Register adds the sinks' routes to mux:
//
//	POST /v1/ingest/logs                         NDJSON or text lines (bearer token)
//	POST /services/collector[/event[/1.0]]       Splunk HEC events (Authorization: Splunk <token>)
//	POST /services/collector/raw[/1.0]           Splunk HEC raw lines
//	GET  /services/collector/health[/1.0]        Splunk HEC health
//	POST /services/collector/ack[/1.0]           Splunk HEC indexer acknowledgement
//	POST /loki/api/v1/push                       Loki push, JSON or protobuf (bearer token)
//	GET  /ready                                  Loki readiness (log shippers' health checks)
//	POST /v1/ingest/scan                         findings of `firebreak scan --publish` (bearer token)
func (s *Sinks) Register(mux *http.ServeMux) {
	mux.Handle("/v1/ingest/logs", http.HandlerFunc(s.serveLogs))
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		mux.Handle(p, http.HandlerFunc(s.serveHECEvent))
	}
	for _, p := range []string{"/services/collector/raw", "/services/collector/raw/1.0"} {
		mux.Handle(p, http.HandlerFunc(s.serveHECRaw))
	}
	for _, p := range []string{"/services/collector/health", "/services/collector/health/1.0"} {
		mux.Handle(p, http.HandlerFunc(s.serveHECHealth))
	}
	for _, p := range []string{"/services/collector/ack", "/services/collector/ack/1.0"} {
		mux.Handle(p, http.HandlerFunc(s.serveHECAck))
	}
	mux.Handle("/loki/api/v1/push", http.HandlerFunc(s.serveLoki))
	mux.Handle("GET /ready", http.HandlerFunc(s.serveLokiReady))
	mux.Handle("/v1/ingest/scan", http.HandlerFunc(s.serveScan))
}

// answerer writes answers in one protocol's shape.
type answerer interface {
	auth(w http.ResponseWriter, p authProblem)
	bad(w http.ResponseWriter, status int, e *ParseError)
	tooLarge(w http.ResponseWriter, limit int64)
	unavailable(w http.ResponseWriter)
	ok(w http.ResponseWriter, res Result)
}

// request is one sink request being served.
type request struct {
	kind    string
	tokens  Tokens
	schemes []string
	ans     answerer
	parse   func(body []byte, r *http.Request) ([]Record, error)
	batch   func(b *Batch, r *http.Request)
}

// admit answers, and reports false, unless r is a POST with one of q's
// tokens; reject counts the refusal by reason.
func (s *Sinks) admit(w http.ResponseWriter, r *http.Request, q request, reject func(reason string)) bool {
	if r.Method != http.MethodPost {
		reject("method")
		w.Header().Set("Allow", http.MethodPost)
		q.ans.bad(w, http.StatusMethodNotAllowed, &ParseError{Index: -1, HECCode: 6, Msg: "use POST"})
		return false
	}
	tok, prob := credential(r, q.schemes...)
	if prob == authOK {
		var err error
		prob, err = q.tokens.check(r.Context(), tok)
		if err != nil {
			s.log.WithError(err).WithField("source", q.kind).Error("cannot check ingest tokens")
		}
	}
	if prob != authOK {
		reject("auth")
		q.ans.auth(w, prob)
		return false
	}
	return true
}

func (s *Sinks) serve(w http.ResponseWriter, r *http.Request, q request) {
	start := time.Now()
	defer func() { s.metrics.Latency.WithLabelValues(q.kind).Observe(time.Since(start).Seconds()) }()
	reject := func(reason string) {
		s.metrics.Rejected.WithLabelValues(q.kind, reason).Inc()
		s.metrics.Requests.WithLabelValues(q.kind, "rejected").Inc()
	}
	if !s.admit(w, r, q, reject) {
		return
	}
	body, err := web.ReadBody(w, r, s.cfg.MaxBody)
	if err != nil {
		if errors.Is(err, web.ErrTooLarge) {
			reject("too_large")
			q.ans.tooLarge(w, s.cfg.MaxBody)
			return
		}
		reject("body")
		msg := "could not read the request body"
		if errors.Is(err, web.ErrEncoding) {
			msg = err.Error()
		}
		q.ans.bad(w, http.StatusBadRequest, &ParseError{Index: -1, HECCode: 6, Msg: msg})
		return
	}
	recs, err := q.parse(body, r)
	if errors.Is(err, web.ErrTooLarge) { // a compressed payload that decodes too large
		reject("too_large")
		q.ans.tooLarge(w, s.cfg.MaxBody)
		return
	}
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			pe = &ParseError{Index: -1, HECCode: 6, Msg: err.Error()}
		}
		reject("parse")
		q.ans.bad(w, http.StatusBadRequest, pe)
		return
	}
	b := &Batch{Kind: q.kind, Records: recs, Correlation: correlation(r)}
	if q.batch != nil {
		q.batch(b, r)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	res, err := s.p.Process(ctx, b)
	if err != nil {
		s.log.WithError(err).WithFields(logrus.Fields{"source": q.kind, "correlation_id": b.Correlation}).Warn("exposures not stored; the sender will retry")
		reject("unavailable")
		w.Header().Set("Retry-After", "5")
		q.ans.unavailable(w)
		return
	}
	outcome := "accepted"
	if res.Findings == 0 {
		outcome = "clean"
	}
	s.metrics.Requests.WithLabelValues(q.kind, outcome).Inc()
	q.ans.ok(w, res)
}

// correlation is the request's id: X-Request-Id (or HEC's channel) when the
// sender set a sane one, otherwise a new one.
func correlation(r *http.Request) string {
	for _, h := range []string{"X-Request-Id", "X-Splunk-Request-Channel"} {
		if r == nil {
			break
		}
		if v := r.Header.Get(h); v != "" && len(v) <= 64 && validID(v) {
			return v
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

func validID(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// --- POST /v1/ingest/logs -------------------------------------------------

func (s *Sinks) serveLogs(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, request{kind: exposure.SourceLogs, tokens: s.cfg.Logs, schemes: []string{"Bearer"}, ans: fbAnswer{},
		parse: func(body []byte, r *http.Request) ([]Record, error) {
			return ParseLogs(body, r.Header.Get("Content-Type"), QueryLabels(r.URL.Query()))
		}})
}

// fbAnswer is Firebreak's own shape: {"error": "..."}.
type fbAnswer struct{}

func (fbAnswer) auth(w http.ResponseWriter, p authProblem) {
	switch p {
	case authMissing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
		web.Error(w, http.StatusUnauthorized, "missing Authorization: Bearer <ingest token>")
	case authMalformed:
		w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
		web.Error(w, http.StatusUnauthorized, "Authorization must be Bearer <ingest token> (or Basic with the token as password)")
	case authError:
		web.Error(w, http.StatusServiceUnavailable, "ingest tokens unavailable")
	default:
		web.Error(w, http.StatusForbidden, "unknown ingest token")
	}
}

func (fbAnswer) bad(w http.ResponseWriter, status int, e *ParseError) { web.Error(w, status, e.Msg) }

func (fbAnswer) tooLarge(w http.ResponseWriter, limit int64) {
	web.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the %d-byte limit", limit))
}

func (fbAnswer) unavailable(w http.ResponseWriter) {
	web.Error(w, http.StatusServiceUnavailable, "the exposures could not be stored durably; retry the request")
}

func (fbAnswer) ok(w http.ResponseWriter, res Result) {
	if res.Exposures == nil {
		res.Exposures = []string{}
	}
	web.JSON(w, http.StatusAccepted, struct {
		Status string `json:"status"`
		Result
	}{"accepted", res})
}

// --- Splunk HEC -----------------------------------------------------------

func (s *Sinks) serveHECEvent(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, request{kind: exposure.SourceSplunkHEC, tokens: s.cfg.HEC, schemes: []string{"Splunk"}, ans: s.hecAnswer(r),
		parse: func(body []byte, _ *http.Request) ([]Record, error) { return ParseHECEvents(body) },
		batch: hecRef})
}

func (s *Sinks) serveHECRaw(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, request{kind: exposure.SourceSplunkHEC, tokens: s.cfg.HEC, schemes: []string{"Splunk"}, ans: s.hecAnswer(r),
		parse: func(body []byte, r *http.Request) ([]Record, error) { return ParseHECRaw(body, r.URL.Query()) },
		batch: hecRef})
}

func hecRef(b *Batch, r *http.Request) {
	if ch, _ := hecChannelOf(r); ch != "" {
		b.Ref = "channel:" + ch
	}
}

// hecAnswer answers a HEC request; a success on a data channel carries the
// channel's next indexer acknowledgement id (hecAcks).
func (s *Sinks) hecAnswer(r *http.Request) hecAnswer {
	ch, _ := hecChannelOf(r)
	return hecAnswer{acks: s.acks, channel: ch}
}

func (s *Sinks) serveHECHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		hecJSON(w, http.StatusMethodNotAllowed, "Method not allowed", 6, -1)
		return
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			hecJSON(w, http.StatusServiceUnavailable, "HEC is unhealthy, queues are full", 18, -1)
			return
		}
	}
	hecJSON(w, http.StatusOK, "HEC is healthy", 17, -1)
}

// hecAnswer is Splunk HEC's shape: {"text": ..., "code": N}, with the status
// codes and texts of Splunk's "Troubleshoot HTTP Event Collector" table:
// 0 Success (200), 2 Token is required (401), 3 Invalid authorization (401),
// 4 Invalid token (403), 5 No data (400), 6 Invalid data format (400, with
// "invalid-event-number"), 9 Server is busy (503), 12 Event field is required
// (400), 13 Event field cannot be blank (400). Splunk answers an oversized
// body from its HTTP layer; Firebreak answers 413 in the HEC shape with code 6.
// On a data channel a success carries "ackId" (indexer acknowledgement).
type hecAnswer struct {
	acks    *hecAcks
	channel string
}

func hecJSON(w http.ResponseWriter, status int, text string, code int, invalidEvent int) {
	body := map[string]any{"text": text, "code": code}
	if invalidEvent >= 0 {
		body["invalid-event-number"] = invalidEvent
	}
	web.JSON(w, status, body)
}

func (hecAnswer) auth(w http.ResponseWriter, p authProblem) {
	switch p {
	case authMissing:
		hecJSON(w, http.StatusUnauthorized, "Token is required", 2, -1)
	case authMalformed:
		hecJSON(w, http.StatusUnauthorized, "Invalid authorization", 3, -1)
	case authError:
		hecJSON(w, http.StatusServiceUnavailable, "Server is busy", 9, -1)
	default:
		hecJSON(w, http.StatusForbidden, "Invalid token", 4, -1)
	}
}

var hecTexts = map[int]string{5: "No data", 6: "Invalid data format", 12: "Event field is required", 13: "Event field cannot be blank"}

func (hecAnswer) bad(w http.ResponseWriter, status int, e *ParseError) {
	code := e.HECCode
	text, ok := hecTexts[code]
	if !ok {
		code, text = 6, hecTexts[6]
	}
	if status == http.StatusMethodNotAllowed {
		text = e.Msg
	}
	body := map[string]any{"text": text, "code": code}
	if e.Index >= 0 && code != 5 {
		body["invalid-event-number"] = e.Index
	}
	if e.Msg != "" && e.Msg != text {
		body["detail"] = e.Msg // Firebreak's addition: what exactly is wrong
	}
	web.JSON(w, status, body)
}

func (hecAnswer) tooLarge(w http.ResponseWriter, limit int64) {
	web.JSON(w, http.StatusRequestEntityTooLarge, map[string]any{"text": "Invalid data format", "code": 6,
		"detail": fmt.Sprintf("request body exceeds the %d-byte limit", limit)})
}

func (hecAnswer) unavailable(w http.ResponseWriter) {
	hecJSON(w, http.StatusServiceUnavailable, "Server is busy", 9, -1)
}

func (a hecAnswer) ok(w http.ResponseWriter, _ Result) {
	if a.acks == nil || a.channel == "" {
		hecJSON(w, http.StatusOK, "Success", 0, -1)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"text": "Success", "code": 0, "ackId": a.acks.issue(a.channel)})
}

// --- Loki -----------------------------------------------------------------

func (s *Sinks) serveLoki(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, request{kind: exposure.SourceLoki, tokens: s.cfg.Loki, schemes: []string{"Bearer"}, ans: lokiAnswer{},
		parse: func(body []byte, r *http.Request) ([]Record, error) {
			ct := strings.ToLower(r.Header.Get("Content-Type"))
			if strings.HasPrefix(ct, "application/x-protobuf") {
				return ParseLokiProto(body, s.cfg.MaxBody)
			}
			return ParseLoki(body)
		},
		batch: func(b *Batch, r *http.Request) {
			if t := r.Header.Get("X-Scope-OrgID"); t != "" && len(t) <= 64 && validID(t) {
				b.Ref = "tenant:" + t
			}
		}})
}

func (s *Sinks) serveLokiReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: the bus is unavailable")
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// lokiAnswer is Loki's shape: 204 with no body on success, plain-text errors.
type lokiAnswer struct{}

func lokiText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func (lokiAnswer) auth(w http.ResponseWriter, p authProblem) {
	switch p {
	case authMissing, authMalformed:
		w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
		lokiText(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <ingest token> (or Basic with the token as password)")
	case authError:
		lokiText(w, http.StatusServiceUnavailable, "ingest tokens unavailable")
	default:
		lokiText(w, http.StatusForbidden, "forbidden: unknown ingest token")
	}
}

func (lokiAnswer) bad(w http.ResponseWriter, status int, e *ParseError) {
	lokiText(w, status, e.Msg)
}

func (lokiAnswer) tooLarge(w http.ResponseWriter, limit int64) {
	lokiText(w, http.StatusRequestEntityTooLarge, "request body exceeds the "+strconv.FormatInt(limit, 10)+"-byte limit")
}

func (lokiAnswer) unavailable(w http.ResponseWriter) {
	lokiText(w, http.StatusServiceUnavailable, "exposures could not be stored durably; retry the push")
}

func (lokiAnswer) ok(w http.ResponseWriter, _ Result) { w.WriteHeader(http.StatusNoContent) }
