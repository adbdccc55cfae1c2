// Package slackemu emulates Slack's incoming webhooks over real HTTP, for
// tests and the demo.
//
// It serves POST /services/{team}/{service}/{token} as Slack does
// (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks):
// a JSON body (or a form field "payload" holding JSON) with "text" and/or
// "blocks", answered 200 "ok" as text/html, or an error status with Slack's
// plain-text error:
//
//	400 invalid_payload   body is not JSON (or not a JSON object), text not a string
//	400 invalid_blocks_format  blocks is not an array
//	400 no_text           neither text nor blocks (nor attachments)
//	400 invalid_blocks    blocks break a Block Kit rule (unknown type, header not
//	                      plain_text or over 150 chars, section without text or
//	                      fields, over 10 fields, over 50 blocks, text over limits)
//	403 invalid_token     known team and service, wrong token
//	404 no_team           unknown team
//	404 no_service        unknown or removed service
//	404 channel_not_found a legacy hook's channel override names no channel
//	410 channel_is_archived
//	405                   any method but POST
//
// App webhooks post to their own channel whatever the payload says; legacy
// webhooks honour "channel", "username" and "icon_emoji". The emulator is an
// emulator.Server, so tests inject 429 (with Retry-After), 5xx, latency or
// dropped connections with Inject, and read raw requests with Requests.
// Accepted messages are decoded (blocks included) and returned by Messages.
package slackemu

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/firebreak-sec/firebreak/providers/emulator"
)

// Hook is a registered incoming webhook.
type Hook struct {
	Team    string // T…
	Service string // B…
	Token   string // the secret last segment
	Channel string // the channel the hook posts to, e.g. "#sec-incidents"
	Legacy  bool   // a legacy (custom integration) hook: honours channel/username/icon overrides
}

// Path is the hook's URL path, /services/T…/B…/token.
func (h Hook) Path() string { return "/services/" + h.Team + "/" + h.Service + "/" + h.Token }

// Message is an accepted post, decoded.
type Message struct {
	Channel   string  // where it was posted
	Text      string  // top-level text (the fallback)
	Username  string  // legacy hooks only
	IconEmoji string  // legacy hooks only
	Blocks    []Block // decoded blocks
	Raw       []byte  // the JSON payload as received
}

// Block is a decoded Block Kit block. Only the parts Slack validates here
// are decoded; Raw keeps the rest.
type Block struct {
	Type     string          `json:"type"`
	BlockID  string          `json:"block_id,omitempty"`
	Text     *Text           `json:"text,omitempty"`
	Fields   []Text          `json:"fields,omitempty"`
	Elements []Text          `json:"-"` // context elements (text objects; images keep only Type)
	Buttons  []Button        `json:"-"` // actions elements
	Raw      json.RawMessage `json:"-"`
}

// Button is a decoded button element of an actions block
// (https://docs.slack.dev/reference/block-kit/block-elements/button-element).
type Button struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style"`
	URL      string `json:"url"`
}

// UnmarshalJSON decodes a block; its elements by the block's type.
func (b *Block) UnmarshalJSON(data []byte) error {
	type plain Block
	var raw struct {
		plain
		Elements []json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*b = Block(raw.plain)
	for _, e := range raw.Elements {
		if b.Type == "actions" {
			var btn Button
			if err := json.Unmarshal(e, &btn); err != nil {
				return err
			}
			b.Buttons = append(b.Buttons, btn)
			continue
		}
		var t Text
		if err := json.Unmarshal(e, &t); err != nil {
			return err
		}
		b.Elements = append(b.Elements, t)
	}
	return nil
}

// Buttons returns every button of the message's actions blocks.
func (m Message) Buttons() []Button {
	var out []Button
	for _, b := range m.Blocks {
		out = append(out, b.Buttons...)
	}
	return out
}

// Text is a Block Kit text object.
type Text struct {
	Type     string `json:"type"` // plain_text | mrkdwn (or image, in a context block)
	Text     string `json:"text"`
	Emoji    bool   `json:"emoji,omitempty"`
	Verbatim bool   `json:"verbatim,omitempty"`
}

// Header returns the text of the first header block.
func (m Message) Header() string {
	for _, b := range m.Blocks {
		if b.Type == "header" && b.Text != nil {
			return b.Text.Text
		}
	}
	return ""
}

// Field returns the value of the first section field written in Slack's
// usual "*Label*\nvalue" form.
func (m Message) Field(label string) (string, bool) {
	prefix := "*" + label + "*\n"
	for _, b := range m.Blocks {
		for _, f := range b.Fields {
			if v, ok := strings.CutPrefix(f.Text, prefix); ok {
				return v, true
			}
		}
	}
	return "", false
}

// AllText joins every piece of text a reader could see: the fallback text,
// and the text of every block, field and context element.
func (m Message) AllText() string {
	parts := []string{m.Text}
	for _, b := range m.Blocks {
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range b.Fields {
			parts = append(parts, f.Text)
		}
		for _, e := range b.Elements {
			parts = append(parts, e.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// Emulator is an emulated Slack incoming-webhook endpoint.
type Emulator struct {
	*emulator.Server

	mu       sync.Mutex
	hooks    map[string]Hook // by team/service
	teams    map[string]bool
	channels map[string]bool // known channel -> archived
	accepted int
	messages []Message
}

// New returns an unstarted emulator; call Start (or Listen), then AddHook.
func New() *Emulator {
	e := &Emulator{hooks: map[string]Hook{}, teams: map[string]bool{}, channels: map[string]bool{}}
	e.Server = emulator.New(http.HandlerFunc(e.serve), errorBody)
	return e
}

// errorBody renders an injected fault the way Slack answers webhooks: a
// short text/html string.
func errorBody(status int) (string, []byte) {
	switch {
	case status == http.StatusTooManyRequests:
		return "text/html", []byte("rate_limited")
	case status >= 500:
		return "text/html", []byte("rollup_error")
	case status == http.StatusBadRequest:
		return "text/html", []byte("invalid_payload")
	case status == http.StatusForbidden:
		return "text/html", []byte("action_prohibited")
	case status == http.StatusNotFound:
		return "text/html", []byte("no_service")
	case status == http.StatusGone:
		return "text/html", []byte("channel_is_archived")
	}
	return "text/html", []byte(strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")))
}

// AddHook registers an app webhook posting to channel (created if needed)
// and returns it; HookURL gives its URL.
func (e *Emulator) AddHook(channel string) Hook { return e.add(channel, false) }

// AddLegacyHook registers a legacy webhook, which honours the payload's
// channel, username and icon overrides.
func (e *Emulator) AddLegacyHook(channel string) Hook { return e.add(channel, true) }

func (e *Emulator) add(channel string, legacy bool) Hook {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.hooks) + 1
	h := Hook{
		Team:    "T0FIREBRK",
		Service: fmt.Sprintf("B%08d", n),
		Token:   rand.Text()[:24],
		Channel: channel,
		Legacy:  legacy,
	}
	e.teams[h.Team] = true
	e.hooks[h.Team+"/"+h.Service] = h
	if _, ok := e.channels[channel]; !ok {
		e.channels[channel] = false
	}
	return h
}

// HookURL returns h's full URL on this (started) emulator.
func (e *Emulator) HookURL(h Hook) string { return e.URL() + h.Path() }

// RemoveHook deletes h: later posts to it get 404 no_service.
func (e *Emulator) RemoveHook(h Hook) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.hooks, h.Team+"/"+h.Service)
}

// AddChannel makes channel known, so that a legacy hook may post to it.
func (e *Emulator) AddChannel(channel string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.channels[channel]; !ok {
		e.channels[channel] = false
	}
}

// ArchiveChannel archives channel: posts to it get 410 channel_is_archived.
func (e *Emulator) ArchiveChannel(channel string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.channels[channel] = true
}

// Messages returns the accepted messages, in order: those of the requests
// the server keeps (emulator.Server.Record).
func (e *Emulator) Messages() []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Message(nil), e.messages...)
}

// Count returns how many messages were accepted since the start or
// ClearMessages, kept or not, without copying them.
func (e *Emulator) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepted
}

// ClearMessages forgets the accepted messages and restarts Count.
func (e *Emulator) ClearMessages() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.messages, e.accepted = nil, 0
}

func answer(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// maxBody is the largest payload the emulator accepts.
const maxBody = 1 << 20

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(segs) != 4 || segs[0] != "services" {
		answer(w, http.StatusNotFound, "no_service")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	team, service, token := segs[1], segs[2], segs[3]

	e.mu.Lock()
	knownTeam := e.teams[team]
	hook, ok := e.hooks[team+"/"+service]
	e.mu.Unlock()
	switch {
	case !knownTeam:
		answer(w, http.StatusNotFound, "no_team")
		return
	case !ok:
		answer(w, http.StatusNotFound, "no_service")
		return
	case token != hook.Token:
		answer(w, http.StatusForbidden, "invalid_token")
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	raw, status, errText := readPayload(r)
	if status != 0 {
		answer(w, status, errText)
		return
	}
	var top struct {
		Channel     string            `json:"channel"`
		Text        json.RawMessage   `json:"text"`
		Username    string            `json:"username"`
		IconEmoji   string            `json:"icon_emoji"`
		Blocks      json.RawMessage   `json:"blocks"`
		Attachments []json.RawMessage `json:"attachments"`
	}
	if json.Unmarshal(raw, &top) != nil {
		answer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	m := Message{Username: top.Username, IconEmoji: top.IconEmoji, Raw: raw}
	if len(top.Text) > 0 && string(top.Text) != "null" && json.Unmarshal(top.Text, &m.Text) != nil {
		answer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if len(top.Blocks) > 0 && string(top.Blocks) != "null" {
		var blocks []json.RawMessage
		if json.Unmarshal(top.Blocks, &blocks) != nil {
			answer(w, http.StatusBadRequest, "invalid_blocks_format")
			return
		}
		for _, rb := range blocks {
			var b Block
			if json.Unmarshal(rb, &b) != nil {
				answer(w, http.StatusBadRequest, "invalid_blocks")
				return
			}
			b.Raw = append(json.RawMessage(nil), rb...)
			m.Blocks = append(m.Blocks, b)
		}
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Blocks) == 0 && len(top.Attachments) == 0 {
		answer(w, http.StatusBadRequest, "no_text")
		return
	}
	if len(top.Attachments) > 100 {
		answer(w, http.StatusBadRequest, "too_many_attachments")
		return
	}
	if !validBlocks(m.Blocks) {
		answer(w, http.StatusBadRequest, "invalid_blocks")
		return
	}

	m.Channel = hook.Channel
	if !hook.Legacy {
		m.Username, m.IconEmoji = "", ""
	} else if top.Channel != "" {
		m.Channel = top.Channel
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	archived, known := e.channels[m.Channel]
	switch {
	case !known:
		answer(w, http.StatusNotFound, "channel_not_found")
		return
	case archived:
		answer(w, http.StatusGone, "channel_is_archived")
		return
	}
	e.accepted++
	if e.Records(r.Method, r.URL.Path) {
		e.messages = append(e.messages, m)
	}
	answer(w, http.StatusOK, "ok")
}

// readPayload returns the JSON payload of a webhook post: the body, or the
// "payload" field of a form post. Anything that is not a JSON object is
// invalid_payload.
func readPayload(r *http.Request) ([]byte, int, string) {
	var raw []byte
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return nil, statusFor(err), "invalid_payload"
		}
		raw = []byte(r.PostForm.Get("payload"))
	} else {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, statusFor(err), "invalid_payload"
		}
		raw = b
	}
	// A JSON object: valid JSON whose first token is '{'. (Checked without
	// decoding it: serve decodes the payload once, after this.)
	if t := bytes.TrimLeft(raw, " \t\r\n"); !utf8.Valid(raw) || len(t) == 0 || t[0] != '{' || !json.Valid(raw) {
		return nil, http.StatusBadRequest, "invalid_payload"
	}
	return raw, 0, ""
}

func statusFor(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// validBlocks applies the Block Kit rules the emulator knows
// (https://docs.slack.dev/reference/block-kit/blocks).
func validBlocks(bs []Block) bool {
	if len(bs) > 50 {
		return false
	}
	validText := func(t *Text, max int, plainOnly bool) bool {
		if t == nil || t.Text == "" || utf8.RuneCountInString(t.Text) > max {
			return false
		}
		if plainOnly {
			return t.Type == "plain_text"
		}
		return t.Type == "plain_text" || t.Type == "mrkdwn"
	}
	for _, b := range bs {
		switch b.Type {
		case "header":
			if !validText(b.Text, 150, true) {
				return false
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return false
			}
			if b.Text != nil && !validText(b.Text, 3000, false) {
				return false
			}
			if len(b.Fields) > 10 {
				return false
			}
			for i := range b.Fields {
				if !validText(&b.Fields[i], 2000, false) {
					return false
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return false
			}
			for i := range b.Elements {
				if b.Elements[i].Type == "image" {
					continue
				}
				if !validText(&b.Elements[i], 3000, false) {
					return false
				}
			}
		case "actions":
			if len(b.Buttons) == 0 || len(b.Buttons) > 25 {
				return false
			}
			for _, btn := range b.Buttons {
				if btn.Type != "button" || !validText(btn.Text, 75, true) || btn.ActionID == "" || len(btn.ActionID) > 255 ||
					len(btn.Value) > 2000 || (btn.Style != "" && btn.Style != "primary" && btn.Style != "danger") {
					return false
				}
			}
		case "divider", "image", "rich_text", "input", "file", "video":
		default:
			return false
		}
	}
	return true
}
