package providers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
)

// Class is what a failure means for the caller.
type Class int

// Failure classes. The class decides what the responder does with the message:
// Permanent terminates it, Retryable naks it with a delay, AlreadyDone counts as
// success.
const (
	Permanent   Class = iota // retrying cannot help (400, 401, 403, a malformed key)
	Retryable                // try again later (429, 5xx, network errors, timeouts)
	AlreadyDone              // the desired end state already holds (key already revoked)
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case AlreadyDone:
		return "already_done"
	default:
		return "permanent"
	}
}

// Error is a classified provider failure. Message comes from the provider's
// error body and is sanitized by the client; it never carries the secret.
type Error struct {
	Provider   string
	Op         Op
	Class      Class
	Status     int           // HTTP status, 0 when no response arrived
	RetryAfter time.Duration // provider's Retry-After, when it sent one
	Message    string
	Err        error // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Provider, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Classify returns the class of err and how long the provider asked to wait.
// A *Error in the chain decides; context cancellation and network errors are
// retryable (the work was interrupted, not refused); anything else is permanent.
func Classify(err error) (Class, time.Duration) {
	if err == nil {
		return AlreadyDone, 0
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class, pe.RetryAfter
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Retryable, 0
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Retryable, 0
	}
	return Permanent, 0
}

// ClassifyStatus maps an HTTP status to a class the way most provider APIs
// mean it: 429, 408 and 5xx are retryable; other 4xx are permanent.
func ClassifyStatus(status int) Class {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return Retryable
	default:
		return Permanent
	}
}

// MaxRetryAfter caps a provider's Retry-After: a longer wait (a misbehaving
// provider or proxy, "Retry-After: 99999999999", a date in the year 9999)
// would park the exposure for years; Firebreak asks again after an hour.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After header (delay-seconds or HTTP-date)
// relative to now. It returns 0 when the header is absent or unparseable
// (or not a finite, non-negative number), and at most MaxRetryAfter.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if !(secs >= 0) || math.IsInf(secs, 0) { // NaN, negative, infinite
			return 0
		}
		if secs >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, MaxRetryAfter)
		}
	}
	return 0
}

// StatusError builds the classified error for a non-2xx response. message is
// the provider's own error message, already extracted from its error shape.
func StatusError(provider string, op Op, resp *http.Response, message string) *Error {
	return &Error{
		Provider:   provider,
		Op:         op,
		Class:      ClassifyStatus(resp.StatusCode),
		Status:     resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Message:    message,
	}
}

// TransportError classifies a failure to get any response at all. The request
// URL is dropped from the error: some provider APIs take the key in the query
// string, and an error string must never carry a secret.
func TransportError(provider string, op Op, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	class, _ := Classify(err)
	return &Error{Provider: provider, Op: op, Class: class, Err: err}
}

// ScrubError returns err with every given secret removed from its text,
// keeping its class, status and Retry-After. Callers that hold a raw secret
// pass every error on through it: a provider's error body may echo the key.
// Text that wraps a *Error (fmt.Errorf("...: %w")) is dropped when scrubbing
// was needed.
func ScrubError(err error, secrets ...secret.Value) error {
	if err == nil {
		return nil
	}
	clean := func(s string) string { return scrub.Text(s, secrets...) }
	if clean(err.Error()) == err.Error() {
		return err
	}
	var pe *Error
	if errors.As(err, &pe) {
		out := *pe
		out.Message = clean(pe.Message)
		if pe.Err != nil {
			out.Err = scrubbed(clean(pe.Err.Error()))
		}
		return &out
	}
	class, after := Classify(err)
	return &Error{Class: class, RetryAfter: after, Err: scrubbed(clean(err.Error()))}
}

// scrubbed is an error text with secrets removed.
type scrubbed string

func (s scrubbed) Error() string { return string(s) }
