// Package webhook notifies any HTTP endpoint about an incident with a signed
// JSON POST, for receivers Firebreak has no dedicated notifier for (a chat
// bot, a ticketing bridge, a SOAR).
//
// # The delivery (version 1)
//
//	POST <URL>
//	Content-Type: application/json
//	Firebreak-Timestamp: 1796337900
//	Firebreak-Signature: v1=<64 hex digits: HMAC-SHA256(secret, "1796337900." + body)>
//	Firebreak-Delivery: dlv_<32 hex digits>
//
//	{"type":"firebreak.incident.v1","id":"dlv_…","message":{"incident":"inc_…","title":"…",
//	 "text":"…","provider":"openai","secret_type":"openai_api_key","redacted":"sk-proj-…x9Qa",
//	 "where":"acme/api: app.py:12","where_url":"https://…","actions":["revoked key …"],"at":"…"}}
//
// The body is an Envelope: "type" names the schema (firebreak.incident.v1;
// an incompatible change gets a new type), "id" identifies the delivery, and
// "message" is a notify.Message, whose members are documented there. The
// message never carries a raw secret, only its redacted hint. Receivers must
// ignore members they do not know: new ones may be added within v1.
//
// The id is derived from the message (DeliveryID), so a notification that
// Firebreak retries after a timeout or a 5xx keeps its id while the
// timestamp and signature are fresh on each attempt.
//
// # Receiving
//
// A receiver must, before acting on a delivery:
//
//  1. Verify the signature and timestamp with Verify (HMAC-SHA256 over
//     timestamp + "." + raw body, constant-time compare), using the raw body
//     bytes as received. Reject a failure with 401.
//  2. Reject a timestamp more than 5 minutes (DefaultTolerance) from its own
//     clock, either way, with 401 (Verify does this).
//  3. Reject an envelope id it has already accepted with 409, remembering ids
//     for at least the tolerance. This stops replays within the window and
//     makes Firebreak's retries idempotent: the Notifier counts a 409 as
//     delivered. Use the id in the signed body, not the unsigned
//     Firebreak-Delivery header.
//  4. Answer 2xx quickly. 429 (with Retry-After) and 5xx make Firebreak retry;
//     any other status is a permanent failure of the notification step.
//
// Package webhookemu is such a receiver, for tests and the demo.
//
// # Errors
//
// Notify reports 429, 408 and 5xx as retryable (Retry-After is carried in the
// *providers.Error), 409 as success, redirects (which it does not follow) and
// other non-2xx statuses as permanent, and network failures as retryable.
// Errors never carry the signing secret, nor the URL, whose user info, path
// and query may hold credentials of their own.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name in errors and playbooks (notify.webhook).
const Name = "webhook"

// Type is the envelope type of this version of the delivery.
const Type = "firebreak.incident.v1"

// maxResponseBytes bounds how much of a receiver's answer is read.
const maxResponseBytes = 64 << 10

// Envelope is the JSON body of a delivery.
type Envelope struct {
	Type    string         `json:"type"`    // Type
	ID      string         `json:"id"`      // DeliveryID(Message)
	Message notify.Message `json:"message"` // the notification
}

// DeliveryID returns the id of m's delivery: "dlv_" and 32 hex digits of a
// SHA-256 over the envelope type and the message's JSON form. Equal messages
// (a retry) have equal ids; messages that differ in anything, including At,
// have different ones.
func DeliveryID(m notify.Message) string {
	b, err := json.Marshal(m)
	if err != nil { // a Message always marshals; keep the id unique regardless
		b = []byte(fmt.Sprintf("%#v", m))
	}
	h := sha256.New()
	h.Write([]byte(Type + "\n"))
	h.Write(b)
	return "dlv_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Config configures a Notifier.
type Config struct {
	// URL is the receiver's endpoint, http or https. It may carry
	// credentials (user info, a token in the query) and is never put in an
	// error.
	URL string
	// Secret yields the shared HMAC key. Required.
	Secret secret.Source
	// HTTPClient sends the requests; nil means a client with a 30 s
	// timeout. Redirects are never followed, whatever its CheckRedirect.
	HTTPClient *http.Client
	// Headers are added to every request (e.g. an API gateway's key). They
	// cannot replace Content-Type or the Firebreak-* headers.
	Headers map[string]string
}

// Notifier posts signed incident deliveries to one endpoint.
type Notifier struct {
	url     string
	secret  secret.Source
	client  *http.Client
	headers http.Header
	// headerValues are the configured header values long enough to be
	// credentials (an API gateway's key): scrubbed from receivers' errors.
	headerValues []secret.Value
}

// minHeaderSecret is the shortest header value treated as a credential.
const minHeaderSecret = 12

var _ notify.Notifier = (*Notifier)(nil)

// New checks c and returns a Notifier. Its errors never quote the URL.
func New(c Config) (*Notifier, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("webhook: URL must be an absolute http or https URL")
	}
	if c.Secret == nil {
		return nil, errors.New("webhook: Secret is required (deliveries are always signed)")
	}
	h := http.Header{}
	var hv []secret.Value
	for k, v := range c.Headers {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Content-Type" || ck == "Content-Length" || ck == "Host" || strings.HasPrefix(ck, "Firebreak-") {
			return nil, fmt.Errorf("webhook: header %q is set by the notifier", ck)
		}
		if !validHeader(ck, v) {
			return nil, fmt.Errorf("webhook: header %q has an invalid name or value", ck)
		}
		h.Set(ck, v)
		if len(strings.TrimSpace(v)) >= minHeaderSecret {
			hv = append(hv, secret.New(v))
		}
	}
	var client http.Client
	if c.HTTPClient != nil {
		client = *c.HTTPClient
	} else {
		client.Timeout = 30 * time.Second
	}
	// A redirect would send the signed body where it was not configured to
	// go (or drop it, for 301/302); report it instead.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Notifier{url: c.URL, secret: c.Secret, client: &client, headers: h, headerValues: hv}, nil
}

func validHeader(k, v string) bool {
	if k == "" || strings.ContainsAny(k, " \t\r\n:") {
		return false
	}
	return !strings.ContainsAny(v, "\r\n\x00")
}

// Notify delivers m. A failure is always a *providers.Error.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	env := Envelope{Type: Type, ID: DeliveryID(m), Message: m}
	body, err := json.Marshal(env)
	if err != nil {
		return false, fail(providers.Permanent, "encode message", err)
	}

	key, err := n.secret.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "signing secret", err)
		return pe.Class == providers.Retryable, pe
	}
	if key.IsZero() {
		return false, fail(providers.Permanent, "the signing secret is empty", nil)
	}
	kb := key.Bytes()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := SignatureScheme + "=" + hex.EncodeToString(mac(kb, ts, body))
	clear(kb)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, fail(providers.Permanent, "cannot build the request", nil)
	}
	for k, vs := range n.headers {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "firebreak")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set(HeaderDelivery, env.ID)

	resp, err := n.client.Do(req)
	if err != nil {
		pe := notify.TransportError(Name, err, n.url)
		return pe.Class == providers.Retryable, pe
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		pe := notify.TransportError(Name, err, n.url)
		return pe.Class == providers.Retryable, pe
	}

	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusConflict:
		// The receiver already accepted this delivery id: an earlier attempt
		// got through though its answer was lost.
		return false, nil
	case resp.StatusCode/100 == 3:
		return false, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: providers.Permanent,
			Status: resp.StatusCode, Message: "the receiver redirected; redirects are not followed, configure the final URL"}
	}
	msg := notify.ErrorTextScrubbed(b, n.url, append([]secret.Value{key}, n.headerValues...)...)
	pe := providers.StatusError(Name, notify.OpNotify, resp, msg)
	return pe.Class == providers.Retryable, pe
}

func fail(class providers.Class, msg string, err error) *providers.Error {
	return &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Message: msg, Err: err}
}
