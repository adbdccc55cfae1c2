package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
)

// MaxResponseBytes bounds how much of a provider response is read.
const MaxResponseBytes = 4 << 20

// API is the small JSON-over-HTTP client the provider packages share. It sends
// requests relative to BaseURL, classifies failures with StatusError and
// TransportError, and never puts a request URL or body into an error.
type API struct {
	Provider string       // provider name for errors
	BaseURL  string       // e.g. "https://api.openai.com"; no trailing slash needed
	Client   *http.Client // nil means http.DefaultClient
	// ErrorMessage extracts the provider's message from an error body. nil
	// means: use the body's first 200 bytes if it is short text, else nothing.
	ErrorMessage func(status int, body []byte) string
	// Header, when set, is called on every request to add auth and version headers.
	Header func(h http.Header)
	// AdjustError, when set, may refine the classified error of a non-2xx
	// response: providers that signal rate limits other than with 429 and
	// Retry-After (GitHub's 403 with X-RateLimit-Remaining: 0) reclassify here.
	AdjustError func(resp *http.Response, body []byte, e *Error)
}

// Request describes one call.
type Request struct {
	Op     Op
	Method string
	Path   string      // joined to BaseURL; may carry a query string
	Header http.Header // per-call headers (e.g. the leaked key as bearer token)
	Body   any         // JSON-encoded when non-nil
	Out    any         // JSON-decoded from a 2xx body when non-nil
	// Scrub is the secret this call carries (if any); it is removed from any
	// provider error message, since some providers echo the key they refused.
	Scrub secret.Value
	// ScrubMore are further secrets the call carries (the tokens of a
	// revocation batch), removed from the message like Scrub — before the
	// message is cut, so that no cut-off piece of one can remain.
	ScrubMore []secret.Value
	// ResponseHeader, when non-nil, receives the response headers (on success
	// and on error), for providers that report facts or limits in headers.
	ResponseHeader *http.Header
}

// URL returns the absolute URL of path.
func (a *API) URL(path string) string {
	return strings.TrimRight(a.BaseURL, "/") + path
}

// Do sends r and returns the response status and body. A non-2xx status is
// returned as a *Error (with the body still returned, for callers that treat
// some statuses specially, e.g. 404 as already revoked).
func (a *API) Do(ctx context.Context, r Request) (int, []byte, error) {
	var body io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return 0, nil, &Error{Provider: a.Provider, Op: r.Op, Class: Permanent, Err: fmt.Errorf("encode request: %w", err)}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, a.URL(r.Path), body)
	if err != nil {
		return 0, nil, &Error{Provider: a.Provider, Op: r.Op, Class: Permanent, Err: fmt.Errorf("build request for %s", r.Method)}
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "firebreak")
	if a.Header != nil {
		a.Header(req.Header)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, TransportError(a.Provider, r.Op, err)
	}
	defer resp.Body.Close()
	if r.ResponseHeader != nil {
		*r.ResponseHeader = resp.Header.Clone()
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return resp.StatusCode, nil, TransportError(a.Provider, r.Op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := ""
		if a.ErrorMessage != nil {
			msg = a.ErrorMessage(resp.StatusCode, b)
		}
		secrets := append([]secret.Value{r.Scrub}, r.ScrubMore...)
		msg = ScrubMessage(msg, secrets...)
		e := StatusError(a.Provider, r.Op, resp, msg)
		if a.AdjustError != nil {
			a.AdjustError(resp, b, e)
			e.Message = ScrubMessage(e.Message, secrets...)
		}
		return resp.StatusCode, b, e
	}
	if r.Out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, r.Out); err != nil {
			return resp.StatusCode, b, &Error{Provider: a.Provider, Op: r.Op, Class: Retryable, Status: resp.StatusCode,
				Err: fmt.Errorf("decode %s response: %w", r.Method, err)}
		}
	}
	return resp.StatusCode, b, nil
}

// ScrubMessage removes every given secret from a provider message — whole,
// and every run of scrub.MinRun characters of it beyond its public prefix,
// as providers often echo a key masked, cut or without its prefix — and then
// bounds the message's length. Scrubbing comes first: a cut can only shorten
// what is already clean. Callers that cut a message themselves scrub it
// before.
func ScrubMessage(msg string, secrets ...secret.Value) string {
	msg = scrub.Text(msg, secrets...)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
