// Package slackbot notifies a Slack channel or a person with a bot token
// through the Web API method chat.postMessage
// (https://docs.slack.dev/reference/methods/chat.postMessage), as opposed to
// an incoming webhook fixed to one channel: the destination is per message,
// so an owner's own channel or DM (a user id, "U…") can be paged.
//
// POST https://slack.com/api/chat.postMessage with "Authorization: Bearer
// xoxb-…" and a JSON body {"channel","text","blocks","unfurl_links":false};
// the answer is HTTP 200 {"ok":true,"channel","ts"} or {"ok":false,
// "error":"channel_not_found"} (also not_in_channel, is_archived,
// invalid_auth, missing_scope, …), and 429 with Retry-After when rate
// limited. ok:false errors internal_error, fatal_error,
// service_unavailable, request_timeout and ratelimited are retryable; the
// others are permanent. The token comes from a secret.Source and is scrubbed
// from every error. The blocks are notify/slack's.
package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/slack"
)

// Name is the notifier's name (notify.slackbot).
const Name = "slackbot"

// Config configures a Notifier.
type Config struct {
	BaseURL        string        // https://slack.com when empty
	Token          secret.Source // a bot token (xoxb-) with chat:write
	DefaultChannel string        // when a message names none: "#sec-incidents" or "C…"
	HTTPClient     *http.Client
}

// Notifier posts with chat.postMessage.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Token == nil {
		return nil, errors.New("slackbot: token is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://slack.com"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	return &Notifier{cfg: cfg, client: c}, nil
}

func retryable(e string) bool {
	switch e {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
		return true
	}
	return false
}

// Notify posts m to m.Channel (a channel id or #name, or a user id for a
// DM), or to the default channel.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	channel := strings.TrimSpace(m.Channel)
	if channel == "" {
		channel = n.cfg.DefaultChannel
	}
	fail := func(class providers.Class, status int, msg string, err error) (bool, error) {
		return class == providers.Retryable, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Status: status, Message: msg, Err: err}
	}
	if channel == "" {
		return fail(providers.Permanent, 0, "no channel: the message names none and no default_channel is configured", nil)
	}
	text, blocks := slack.BlockKit(m)
	body, err := json.Marshal(map[string]any{"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false, "unfurl_media": false})
	if err != nil {
		return fail(providers.Permanent, 0, "encode message", err)
	}
	tok, err := n.cfg.Token.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "bot token", err)
		return pe.Class == providers.Retryable, pe
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.BaseURL+"/api/chat.postMessage", bytes.NewReader(body))
	if err != nil {
		return fail(providers.Permanent, 0, "cannot build the request", nil)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.Reveal()))
	resp, err := n.client.Do(req)
	if err != nil {
		pe := providers.TransportError(Name, notify.OpNotify, err)
		return pe.Class == providers.Retryable, pe
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
		Needed  string `json:"needed"`
		Channel string `json:"channel"`
	}
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode/100 != 2 {
		msg := out.Error
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		pe := providers.StatusError(Name, notify.OpNotify, resp, providers.ScrubMessage(msg, tok))
		return pe.Class == providers.Retryable, pe
	}
	if out.OK {
		return false, nil
	}
	msg := out.Error
	if out.Needed != "" {
		msg += " (needs scope " + out.Needed + ")"
	}
	msg = providers.ScrubMessage(msg+" (channel "+channel+")", tok)
	class := providers.Permanent
	if retryable(out.Error) {
		class = providers.Retryable
	}
	return fail(class, resp.StatusCode, msg, nil)
}
