// Package teamsemu emulates Microsoft Teams incoming webhooks (legacy
// connector URLs, /webhookb2/{group}@{tenant}/IncomingWebhook/{id}/{owner})
// over real HTTP (emulator.Server). It accepts an Adaptive Card message
// ({"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard",
// "body":[…]}}]}) or a legacy MessageCard with text or summary, answering
// 200 "1" as connectors do; a body that is not JSON → 400 "Bad payload
// received by generic incoming webhook."; a card without content → 400
// "Summary or Text is required."; an unknown webhook → 404.
package teamsemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Card is an accepted card, decoded.
type Card struct {
	Hook  string
	Texts []string          // every TextBlock's text
	Facts map[string]string // FactSet title → value
	URLs  []string          // Action.OpenUrl targets
	Raw   []byte
}

// Emulator is an emulated set of Teams webhooks.
type Emulator struct {
	*emulator.Server
	mu    sync.Mutex
	hooks map[string]string // path → channel name
	cards []Card
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{hooks: map[string]string{}}
	e.Server = emulator.New(http.HandlerFunc(e.serve), ErrorBody)
	return e
}

// ErrorBody renders a fault as a connector does (plain text).
func ErrorBody(status int) (string, []byte) {
	return "text/plain; charset=utf-8", []byte(http.StatusText(status))
}

// AddHook registers a webhook for channel and returns its URL.
func (e *Emulator) AddHook(channel string) string {
	path := "/webhookb2/" + keystore.RandomFrom("0123456789abcdef", 8) + "@" + keystore.RandomFrom("0123456789abcdef", 8) +
		"/IncomingWebhook/" + keystore.RandomAlnum(32) + "/" + keystore.RandomFrom("0123456789abcdef", 8)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hooks[path] = channel
	return e.URL() + path
}

// Cards returns the accepted cards.
func (e *Emulator) Cards() []Card {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Card(nil), e.cards...)
}

func text(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	channel, ok := e.hooks[r.URL.Path]
	e.mu.Unlock()
	if !ok {
		text(w, http.StatusNotFound, "Webhook not found")
		return
	}
	if r.Method != http.MethodPost {
		text(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	var raw []byte
	var msg struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Summary     string `json:"summary"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string            `json:"type"`
				Body []json.RawMessage `json:"body"`
				Acts []struct {
					Type string `json:"type"`
					URL  string `json:"url"`
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	dec := json.NewDecoder(r.Body)
	var v json.RawMessage
	if dec.Decode(&v) != nil || json.Unmarshal(v, &msg) != nil {
		text(w, http.StatusBadRequest, "Bad payload received by generic incoming webhook.")
		return
	}
	raw = v
	card := Card{Hook: channel, Facts: map[string]string{}, Raw: raw}
	for _, a := range msg.Attachments {
		if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content.Type != "AdaptiveCard" {
			continue
		}
		for _, b := range a.Content.Body {
			var el struct {
				Type  string `json:"type"`
				Text  string `json:"text"`
				Facts []struct {
					Title string `json:"title"`
					Value string `json:"value"`
				} `json:"facts"`
			}
			_ = json.Unmarshal(b, &el)
			switch el.Type {
			case "TextBlock":
				if strings.TrimSpace(el.Text) != "" {
					card.Texts = append(card.Texts, el.Text)
				}
			case "FactSet":
				for _, f := range el.Facts {
					card.Facts[f.Title] = f.Value
				}
			}
		}
		for _, act := range a.Content.Acts {
			if act.Type == "Action.OpenUrl" {
				card.URLs = append(card.URLs, act.URL)
			}
		}
	}
	if msg.Text != "" {
		card.Texts = append(card.Texts, msg.Text)
	}
	if len(card.Texts) == 0 && msg.Summary == "" {
		text(w, http.StatusBadRequest, "Summary or Text is required.")
		return
	}
	e.mu.Lock()
	e.cards = append(e.cards, card)
	e.mu.Unlock()
	text(w, http.StatusOK, "1")
}
