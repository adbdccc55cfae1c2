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
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
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
			parts = append(parts, strings.Split(u.Path, "/")...)
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
// must still be scrubbed of the endpoint URL by the caller — which is why
// callers use ErrorTextScrubbed instead: it scrubs before the cut.
func ErrorText(body []byte) string { return bound(errorText(body)) }

// ErrorTextScrubbed is ErrorText with rawURL (ScrubURL) and every given
// secret (scrub.Text) removed from the extracted text before it is cut to
// 200 characters: a cut made first could split an echoed URL or key into a
// piece that scrubbing no longer recognises.
func ErrorTextScrubbed(body []byte, rawURL string, secrets ...secret.Value) string {
	return bound(scrub.Text(ScrubURL(errorText(body), rawURL), secrets...))
}

// errorText is ErrorText's text, whole.
func errorText(body []byte) string {
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
				return printable(s)
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v.Error, &o) == nil && o.Message != "" {
				return printable(o.Message)
			}
			if v.Message != "" {
				return printable(v.Message)
			}
		}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return printable(string(line))
}

// printable drops control and invalid characters.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != ' ') {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// bound cuts s to maxErrorText characters, marking a cut with "…".
func bound(s string) string {
	n := 0
	for i := range s {
		if n == maxErrorText {
			return strings.TrimSpace(s[:i] + "…")
		}
		n++
	}
	return s
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
