// Package slack notifies a Slack channel about an incident through an
// incoming webhook, with a Block Kit message and a plain-text fallback.
//
// It follows Slack's incoming-webhook contract
// (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks,
// https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks):
// a JSON POST to https://hooks.slack.com/services/T…/B…/…, answered 200 "ok" on
// success and otherwise with a status and a short plain-text error:
//
//	400 invalid_payload, no_text, invalid_blocks, user_not_found, too_many_attachments
//	403 action_prohibited, invalid_token, posting_to_general_channel_denied
//	404 no_service, no_team, channel_not_found
//	410 channel_is_archived
//	429 rate limited (about one message per second per hook, short bursts allowed), with Retry-After
//	500 rollup_error
//
// Notify reports 429 and 5xx as retryable (the *providers.Error carries
// Retry-After), every other non-2xx as permanent with Slack's error text, and
// network failures as retryable. The webhook URL is a credential (whoever
// holds it can post to the channel): it comes from a secret.Source on every
// call and never appears in an error.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name in errors and playbooks (notify.slack).
const Name = "slack"

// maxResponseBytes bounds how much of Slack's answer is read.
const maxResponseBytes = 64 << 10

// Config configures a Notifier.
type Config struct {
	// WebhookURL yields the incoming webhook URL. It must be https (plain
	// http is accepted only for a loopback host, i.e. an emulator).
	WebhookURL secret.Source
	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	// Deadlines otherwise come from the context passed to Notify.
	HTTPClient *http.Client
	// Username and IconEmoji (":rotating_light:") override the poster's name
	// and icon. Only legacy (custom integration) webhooks honour them; app
	// webhooks ignore them.
	Username  string
	IconEmoji string
	// DefaultChannel is the channel ("#sec-incidents") posted to when the
	// message names none. Like Message.Channel it is honoured only by legacy
	// webhooks; an app webhook always posts to the channel it was made for.
	DefaultChannel string
}

// Notifier posts incident messages to a Slack incoming webhook.
type Notifier struct {
	conf   Config
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier. The webhook URL itself is only resolved, and
// checked, when a message is sent.
func New(c Config) (*Notifier, error) {
	if c.WebhookURL == nil {
		return nil, errors.New("slack: WebhookURL is required")
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Notifier{conf: c, client: client}, nil
}

// Notify posts m. See the package documentation for how failures are
// classified; a failure is always a *providers.Error.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	p := n.payload(m)
	body, err := json.Marshal(p)
	if err != nil {
		return false, n.fail(providers.Permanent, "encode message", err)
	}

	hook, err := n.conf.WebhookURL.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "webhook URL", err)
		return pe.Class == providers.Retryable, pe
	}
	raw := strings.TrimSpace(hook.Reveal()) // often read from a file, newline included
	if !validHookURL(raw) {
		return false, n.fail(providers.Permanent, "webhook URL is not an https URL", nil)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		// The error would quote the URL; say only what failed.
		return false, n.fail(providers.Permanent, "cannot build the webhook request", nil)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "firebreak")

	resp, err := n.client.Do(req)
	if err != nil {
		pe := notify.TransportError(Name, err, raw)
		return pe.Class == providers.Retryable, pe
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		pe := notify.TransportError(Name, err, raw)
		return pe.Class == providers.Retryable, pe
	}

	if resp.StatusCode/100 == 2 {
		return false, n.checkOK(b, raw)
	}
	msg := notify.ErrorTextScrubbed(b, raw)
	if p.Channel != "" {
		msg = strings.TrimSpace(fmt.Sprintf("%s (channel %s)", msg, p.Channel))
	}
	pe := providers.StatusError(Name, notify.OpNotify, resp, msg)
	return pe.Class == providers.Retryable, pe
}

// checkOK interprets a 2xx answer. Incoming webhooks answer "ok"; an empty
// body (a proxy's 204) or a Web API style {"ok":true} counts as success too,
// while {"ok":false,"error":...} or any other text is a permanent failure, as
// in Alertmanager's Slack notifier.
func (n *Notifier) checkOK(body []byte, raw string) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "ok" {
		return nil
	}
	if b[0] == '{' {
		var v struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &v) == nil {
			if v.OK {
				return nil
			}
			return n.fail(providers.Permanent, notify.ErrorTextScrubbed([]byte(v.Error), raw), nil)
		}
	}
	return n.fail(providers.Permanent, "unexpected answer: "+notify.ErrorTextScrubbed(b, raw), nil)
}

func (n *Notifier) fail(class providers.Class, msg string, err error) *providers.Error {
	return &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Message: msg, Err: err}
}

// validHookURL accepts an absolute https URL, or http to a loopback host (an
// emulator): sending the URL in clear text would disclose its token.
func validHookURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
