// Package web holds what Firebreak's HTTP ingesters share: bounded (and
// gzip-aware) body reading, JSON answers in Firebreak's error shape, and
// ingest metrics.
package web

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak-sec/firebreak/ingest/detect"
)

// DefaultMaxBody is the default request body limit (GitHub caps webhook
// payloads at 25 MB).
const DefaultMaxBody = 25 << 20

// Errors from ReadBody.
var (
	ErrTooLarge = errors.New("request body too large")
	ErrEncoding = errors.New("unsupported or corrupt Content-Encoding")
)

// ReadBody reads the whole body, at most limit bytes after decompression
// (Content-Encoding: gzip is accepted). Exceeding the limit returns
// ErrTooLarge; a corrupt or unknown encoding returns ErrEncoding.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	var rd io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if isTooLarge(err) {
				return nil, ErrTooLarge
			}
			return nil, fmt.Errorf("%w: %v", ErrEncoding, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("%w: %s", ErrEncoding, Quote(enc, "value"))
	}
	// Bound the decompressed size too (a gzip bomb).
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		if isTooLarge(err) {
			return nil, ErrTooLarge
		}
		if rd != io.Reader(body) {
			return nil, fmt.Errorf("%w: %v", ErrEncoding, err)
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// BodyError answers a ReadBody error: 413 for ErrTooLarge, 400 otherwise.
func BodyError(w http.ResponseWriter, err error, limit int64) int {
	if errors.Is(err, ErrTooLarge) {
		return Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the %d-byte limit", limit))
	}
	if errors.Is(err, ErrEncoding) {
		return Error(w, http.StatusBadRequest, err.Error())
	}
	return Error(w, http.StatusBadRequest, "could not read the request body")
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// Error writes Firebreak's error shape {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) int {
	return JSON(w, status, map[string]string{"error": msg})
}

// JSONError describes a JSON decoding error with its byte offset, without
// echoing the document's content.
func JSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" { // the document itself, not one of its fields
			return fmt.Sprintf("malformed JSON: the document must be %s, got %s (byte %d)", jsonKind(te.Type), te.Value, te.Offset)
		}
		return fmt.Sprintf("malformed JSON: field %s must be %s, got %s (byte %d)", FieldName(te.Field), jsonKind(te.Type), te.Value, te.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "malformed JSON: unexpected end of input"
	}
	if name, ok := UnknownField(err); ok {
		return "malformed JSON: unknown field " + FieldName(name)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) { // its message repeats the value
		return "malformed JSON: a time must be RFC 3339 (2006-01-02T15:04:05Z), got " + Quote(pe.Value, "value")
	}
	return "malformed JSON: " + err.Error()
}

// UnknownField reports the name of the field a json.Decoder with
// DisallowUnknownFields refused (encoding/json has no error type for it).
// Quote it with FieldName.
func UnknownField(err error) (string, bool) {
	name, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	if n, uerr := strconv.Unquote(name); uerr == nil {
		name = n
	}
	return name, true
}

// maxQuoted is the longest value from a request that an error message
// quotes: the names, ids and words a caller types are short (Firebreak's own
// ids are under 32 bytes), and a longer value is more likely a key pasted in
// the wrong place than anything worth repeating.
const maxQuoted = 32

// keys returns the scanner that finds provider keys in a value before it is
// quoted, built on first use (not at program start). A Scanner is immutable
// and safe for concurrent use; test-mode keys count too.
var keys = sync.OnceValue(func() *detect.Scanner { return detect.New(detect.WithTestKeys()) })

// ownID matches Firebreak's own ids (incidents, approvals, replays, token
// ids, exposures, requests): public names that are quoted although their
// hex or base32 part would otherwise look generated.
var ownID = regexp.MustCompile(`^(inc|apr|rpl|tok|exp|req)_[0-9a-z]+$`)

// Quotable reports whether an error message (a response body, a log line,
// an audit record) may repeat v, a value from a request: a field name, an id
// in a path, a query parameter or its value, a header. It may when v is at
// most 32 bytes, holds no key Firebreak's detectors recognise, and does not
// look generated — no run of 12 or more letters and digits holding at least
// two of each (a hex or base62 token), unless v is one of Firebreak's own
// ids. Anything else may be a secret a caller pasted where an id or a name
// goes, and is described without being repeated (Quote).
func Quotable(v string) bool {
	if len(v) > maxQuoted {
		return false
	}
	found := false
	keys().Scan([]byte(v), func(detect.Finding) { found = true })
	if found {
		return false
	}
	return ownID.MatchString(v) || !looksGenerated(v)
}

// looksGenerated reports whether s holds a run of 12 or more ASCII letters
// and digits with at least two of each: the shape of a random token, not of
// a word, a number or a duration.
func looksGenerated(s string) bool {
	run, letters, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		switch {
		case c >= '0' && c <= '9':
			run, digits = run+1, digits+1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			run, letters = run+1, letters+1
		default:
			if run >= 12 && letters >= 2 && digits >= 2 {
				return true
			}
			run, letters, digits = 0, 0, 0
		}
	}
	return false
}

// Quote returns v quoted (strconv.Quote) for an error message when it is
// Quotable, and otherwise only what it is and how long, "(a 97-byte id, not
// shown)", noun naming what v was ("id", "name", "value", "path segment").
func Quote(v, noun string) string {
	if !Quotable(v) {
		return fmt.Sprintf("(a %d-byte %s, not shown)", len(v), noun)
	}
	return strconv.Quote(v)
}

// FieldName quotes a field name (or path) from a sender's document for an
// error message, or describes it without repeating it when it is not
// Quotable: Quote(name, "name").
func FieldName(name string) string { return Quote(name, "name") }

// Path is a request's URL path for an error message or a log line: each
// segment that is not Quotable is replaced by its description, so
// "/v1/incidents/<a pasted key>/timeline" reads
// "/v1/incidents/(a 164-byte segment, not shown)/timeline". The segments
// shown are not quoted.
func Path(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if !Quotable(s) {
			segs[i] = fmt.Sprintf("(a %d-byte segment, not shown)", len(s))
		}
	}
	return strings.Join(segs, "/")
}

// jsonKind names the JSON value a Go type decodes from, in the words of the
// JSON document a sender wrote (never the Go type, which is Firebreak's own).
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a JSON value"
}

// Metrics count ingest requests and rejections by source and reason.
type Metrics struct {
	Requests  *prometheus.CounterVec // by source, outcome (accepted, duplicate, ignored, rejected, unavailable)
	Exposures *prometheus.CounterVec // published, by source, provider, environment
	Rejected  *prometheus.CounterVec // by source, reason
	Latency   *prometheus.HistogramVec
}

// NewMetrics creates and registers (when reg is non-nil) the ingest metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_ingest_requests_total", Help: "Ingest requests by source and outcome.",
		}, []string{"source", "outcome"}),
		Exposures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_exposures_total", Help: "Exposures published to the bus.",
		}, []string{"source", "provider", "environment"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firebreak_ingest_rejections_total", Help: "Rejected ingest requests by reason.",
		}, []string{"source", "reason"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "firebreak_ingest_duration_seconds", Help: "Time to answer an ingest request (publish acknowledged included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Exposures, m.Rejected, m.Latency)
	}
	return m
}

// Reject counts a rejection and answers it.
func (m *Metrics) Reject(w http.ResponseWriter, source, reason string, status int, msg string) int {
	if m != nil {
		m.Rejected.WithLabelValues(source, reason).Inc()
		m.Requests.WithLabelValues(source, "rejected").Inc()
	}
	return Error(w, status, msg)
}
