package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// maxErrorText bounds the endpoint text carried in an error.
const maxErrorText = 200

// ScrubURL removes rawURL from s, and with it every part of the URL that can
// carry a credential: user info, path (a Slack webhook's token is its last
// path segment), query values and fragment. Notifier endpoints are secrets in
// themselves, so any text that may echo one (an endpoint's error body, a
// transport error) goes through ScrubURL before it reaches an error string.
func ScrubURL(s, rawURL string) string {
	if s == "" || rawURL == "" {
		return s
	}
	parts := []string{rawURL}
	if u, err := url.Parse(rawURL); err == nil {
		if u.User != nil {
			parts = append(parts, u.User.String(), u.User.Username())
			if p, ok := u.User.Password(); ok {
				parts = append(parts, p, url.QueryEscape(p))
			}
		}
		if u.Path != "" && u.Path != "/" {
			parts = append(parts, u.Path, u.EscapedPath())
			for _, seg := range strings.Split(u.Path, "/") {
				parts = append(parts, seg)
			}
		}
		if u.RawQuery != "" {
			parts = append(parts, u.RawQuery)
			for _, kv := range strings.Split(u.RawQuery, "&") {
				if _, v, ok := strings.Cut(kv, "="); ok {
					parts = append(parts, v)
					if dv, err := url.QueryUnescape(v); err == nil {
						parts = append(parts, dv)
					}
				}
			}
		}
		if u.Fragment != "" {
			parts = append(parts, u.Fragment)
		}
	}
	// Longest first, so that a URL is replaced whole rather than piecemeal.
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	for _, p := range parts {
		if len(p) >= 4 { // shorter parts carry no secret worth the noise
			s = strings.ReplaceAll(s, p, secret.Redacted)
		}
	}
	return s
}

// ErrorText extracts a short, printable message from an endpoint's error
// body: Slack's plain-text error ("channel_is_archived"), the "error" or
// "message" member of a JSON body, or the first line of any other text. HTML
// pages (a proxy's 502) yield "". The result is at most 200 characters and
// must still be scrubbed of the endpoint URL (ScrubURL) by the caller.
func ErrorText(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] == '<' {
		return ""
	}
	if b[0] == '{' {
		var v struct {
			Error   json.RawMessage `json:"error"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(b, &v) == nil {
			var s string
			if json.Unmarshal(v.Error, &s) == nil && s != "" {
				return clean(s)
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v.Error, &o) == nil && o.Message != "" {
				return clean(o.Message)
			}
			if v.Message != "" {
				return clean(v.Message)
			}
		}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return clean(string(line))
}

// clean drops control and invalid characters and bounds the length.
func clean(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != ' ') {
			continue
		}
		if n == maxErrorText {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// TransportError classifies a failure to get any response from rawURL, like
// providers.TransportError (which drops the *url.Error wrapper and with it
// the URL), and in addition scrubs any part of rawURL that the remaining cause
// still mentions. errors.Is still sees the cause (context.Canceled, ...).
func TransportError(provider string, err error, rawURL string) *providers.Error {
	pe := providers.TransportError(provider, OpNotify, err)
	if pe.Err != nil {
		if s := pe.Err.Error(); ScrubURL(s, rawURL) != s {
			pe.Err = &scrubbedError{msg: ScrubURL(s, rawURL), cause: pe.Err}
		}
	}
	return pe
}

// scrubbedError prints a scrubbed message. It answers errors.Is for its cause
// but deliberately does not Unwrap to it, so that nothing can print the
// unscrubbed text by walking the chain.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) GoString() string     { return e.msg } // %#v must not print the cause either
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.cause, target) }

// SourceError classifies a failure to resolve a notifier's credential (what:
// "webhook URL", "signing secret"). A *providers.Error in the chain decides;
// otherwise the failure is retryable, since a secret store that cannot answer
// now (Vault sealed, network) usually can later.
func SourceError(provider, what string, err error) *providers.Error {
	class := providers.Retryable
	var pe *providers.Error
	if errors.As(err, &pe) {
		class = pe.Class
	}
	return &providers.Error{Provider: provider, Op: OpNotify, Class: class, Message: "cannot resolve " + what, Err: err}
}
