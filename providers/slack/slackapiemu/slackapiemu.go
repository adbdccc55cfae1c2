// Package slackapiemu emulates the Slack Web API methods Firebreak uses as a
// provider (auth.test, auth.revoke) and as a notifier (chat.postMessage,
// conversations.open), over real HTTP (emulator.Server).
//
// As Slack does, every method answers HTTP 200 with {"ok":true,…} or
// {"ok":false,"error":"…"}: not_authed without a token, invalid_auth for an
// unknown token, token_revoked for a revoked one; chat.postMessage answers
// channel_not_found, not_in_channel, is_archived, no_text and
// missing_scope (a token without chat:write). The token is read from
// "Authorization: Bearer …" or a "token" form field. Injected faults answer
// {"ok":false,"error":"ratelimited"} for 429 and "internal_error" for 5xx.
package slackapiemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Message is an accepted chat.postMessage.
type Message struct {
	Channel string // channel id the message went to
	Text    string
	Blocks  json.RawMessage
	TS      string
}

// Emulator is an emulated Slack Web API.
type Emulator struct {
	*emulator.Server
	tokens *keystore.Store

	mu       sync.Mutex
	channels map[string]*channel // by id
	users    map[string]string   // user id → DM channel id
	messages []Message
	seq      int
}

type channel struct {
	id, name string
	archived bool
	members  map[string]bool // bot user ids in the channel
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{tokens: keystore.New(), channels: map[string]*channel{}, users: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth.test", e.authTest)
	mux.HandleFunc("POST /api/auth.revoke", e.authRevoke)
	mux.HandleFunc("POST /api/chat.postMessage", e.postMessage)
	mux.HandleFunc("POST /api/conversations.open", e.conversationsOpen)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, map[string]any{"ok": false, "error": "unknown_method"})
	})
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

// ErrorBody renders a fault as Slack does.
func ErrorBody(status int) (string, []byte) {
	e := "invalid_request"
	switch {
	case status == http.StatusTooManyRequests:
		e = "ratelimited"
	case status >= 500:
		e = "internal_error"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e = "access_denied"
	}
	b, _ := json.Marshal(map[string]any{"ok": false, "error": e})
	return "application/json; charset=utf-8", b
}

// NewToken returns a well-formed token with prefix ("xoxb-", "xoxp-"), in
// Slack's shape for its kind: a bot token is xoxb-<team id>-<bot id>-<24
// alphanumerics>, a user token xoxp-<team id>-<user id>-<token id>-<32 hex>.
func NewToken(prefix string) string {
	digits := func(n int) string { return keystore.RandomFrom("0123456789", n) }
	if prefix == "xoxp-" {
		return prefix + digits(12) + "-" + digits(12) + "-" + digits(13) + "-" + keystore.RandomFrom("0123456789abcdef", 32)
	}
	return prefix + digits(12) + "-" + digits(13) + "-" + keystore.RandomAlnum(24)
}

// AddToken registers a live token for user in team. Bot tokens (xoxb-) get
// chat:write; scopes lists them explicitly when given.
func (e *Emulator) AddToken(prefix, user, team string, scopes ...string) string {
	raw := NewToken(prefix)
	if len(scopes) == 0 && prefix == "xoxb-" {
		scopes = []string{"chat:write", "im:write"}
	}
	e.tokens.Add(keystore.Key{Raw: raw, Owner: user, Fields: map[string]string{"team": team, "scopes": strings.Join(scopes, ",")}})
	return raw
}

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool { return e.tokens.Live(raw) }

// AddChannel creates a channel (#name) with the given bot users as members
// and returns its id.
func (e *Emulator) AddChannel(name string, members ...string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	id := fmt.Sprintf("C%08d", e.seq)
	c := &channel{id: id, name: strings.TrimPrefix(name, "#"), members: map[string]bool{}}
	for _, m := range members {
		c.members[m] = true
	}
	e.channels[id] = c
	return id
}

// AddUser makes a user id known (a DM target).
func (e *Emulator) AddUser(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	dm := fmt.Sprintf("D%08d", e.seq)
	e.users[id] = dm
	e.channels[dm] = &channel{id: dm, name: dm, members: map[string]bool{"*": true}}
}

// ArchiveChannel archives a channel.
func (e *Emulator) ArchiveChannel(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.channels[id]; c != nil {
		c.archived = true
	}
}

// Messages returns accepted messages.
func (e *Emulator) Messages() []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Message(nil), e.messages...)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, e string) { answer(w, map[string]any{"ok": false, "error": e}) }

// token authenticates the request; it answers the error and returns ok false.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) (keystore.Key, string, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_ = r.ParseForm()
		raw = r.PostForm.Get("token")
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		fail(w, "not_authed")
		return keystore.Key{}, "", false
	}
	k, found := e.tokens.Get(raw)
	switch {
	case !found:
		fail(w, "invalid_auth")
		return k, "", false
	case k.Revoked:
		fail(w, "token_revoked")
		return k, "", false
	}
	return k, raw, true
}

func (e *Emulator) authTest(w http.ResponseWriter, r *http.Request) {
	k, raw, ok := e.token(w, r)
	if !ok {
		return
	}
	team := k.Fields["team"]
	out := map[string]any{"ok": true, "url": "https://" + strings.ToLower(team) + ".slack.com/", "team": team, "user": k.Owner,
		"team_id": "T" + strings.ToUpper(team), "user_id": "U" + strings.ToUpper(k.Owner)}
	if strings.HasPrefix(raw, "xoxb-") {
		out["bot_id"] = "B" + k.ID[:8]
	}
	answer(w, out)
}

func (e *Emulator) authRevoke(w http.ResponseWriter, r *http.Request) {
	_, raw, ok := e.token(w, r)
	if !ok {
		return
	}
	_ = r.ParseForm()
	if r.Form.Get("test") == "true" || r.Form.Get("test") == "1" {
		answer(w, map[string]any{"ok": true, "revoked": false})
		return
	}
	e.tokens.Revoke(raw)
	answer(w, map[string]any{"ok": true, "revoked": true})
}

func (e *Emulator) hasScope(k keystore.Key, s string) bool {
	for _, x := range strings.Split(k.Fields["scopes"], ",") {
		if x == s {
			return true
		}
	}
	return false
}

// params reads a JSON or form body.
func params(r *http.Request) map[string]any {
	out := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.NewDecoder(r.Body).Decode(&out)
		return out
	}
	_ = r.ParseForm()
	for k, v := range r.PostForm {
		out[k] = v[0]
	}
	return out
}

func (e *Emulator) postMessage(w http.ResponseWriter, r *http.Request) {
	k, _, ok := e.token(w, r)
	if !ok {
		return
	}
	if !e.hasScope(k, "chat:write") {
		answer(w, map[string]any{"ok": false, "error": "missing_scope", "needed": "chat:write", "provided": k.Fields["scopes"]})
		return
	}
	p := params(r)
	ch, _ := p["channel"].(string)
	text, _ := p["text"].(string)
	var blocks json.RawMessage
	if b, ok := p["blocks"]; ok {
		blocks, _ = json.Marshal(b)
	}
	if strings.TrimSpace(text) == "" && len(blocks) == 0 {
		fail(w, "no_text")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.channels[ch]
	if c == nil {
		if dm, ok := e.users[ch]; ok { // a user id posts to the DM
			c = e.channels[dm]
		}
	}
	if c == nil {
		for _, x := range e.channels {
			if "#"+x.name == ch || x.name == ch {
				c = x
			}
		}
	}
	bot := "U" + strings.ToUpper(k.Owner)
	switch {
	case c == nil:
		fail(w, "channel_not_found")
		return
	case c.archived:
		fail(w, "is_archived")
		return
	case !c.members[bot] && !c.members["*"]:
		fail(w, "not_in_channel")
		return
	}
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), len(e.messages)+1)
	e.messages = append(e.messages, Message{Channel: c.id, Text: text, Blocks: blocks, TS: ts})
	answer(w, map[string]any{"ok": true, "channel": c.id, "ts": ts, "message": map[string]any{"type": "message", "text": text, "bot_id": "B" + k.ID[:8], "ts": ts}})
}

func (e *Emulator) conversationsOpen(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := e.token(w, r); !ok {
		return
	}
	p := params(r)
	users, _ := p["users"].(string)
	e.mu.Lock()
	dm, ok := e.users[users]
	e.mu.Unlock()
	if !ok {
		fail(w, "user_not_found")
		return
	}
	answer(w, map[string]any{"ok": true, "channel": map[string]any{"id": dm}})
}
