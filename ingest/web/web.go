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
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
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
		return nil, fmt.Errorf("%w: %q", ErrEncoding, enc)
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

// maxFieldName is the longest field name an error quotes: the names of the
// documents Firebreak reads are short, and a longer one (a key pasted as a
// name, a map key holding one) is a sender's content, not echoed.
const maxFieldName = 32

// FieldName quotes a field name (or path) from a sender's document for an
// error message, or, when it is longer than 32 bytes, says only how long
// it is: a name may be a pasted secret.
func FieldName(name string) string {
	if len(name) > maxFieldName {
		return fmt.Sprintf("(a %d-byte name, not shown)", len(name))
	}
	return strconv.Quote(name)
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
