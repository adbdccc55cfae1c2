package slack

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxHeaderText  = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10 // per section
	maxExtraFields = 20 // Message.Fields rendered; the rest are counted, not shown
	maxFallback    = 3000
)

// payload is the incoming-webhook request body.
type payload struct {
	Channel     string  `json:"channel,omitempty"`
	Username    string  `json:"username,omitempty"`
	IconEmoji   string  `json:"icon_emoji,omitempty"`
	Text        string  `json:"text"` // notification and screen-reader fallback
	Blocks      []block `json:"blocks"`
	UnfurlLinks bool    `json:"unfurl_links"` // false: do not preview the leak location
	UnfurlMedia bool    `json:"unfurl_media"`
}

type block struct {
	Type     string       `json:"type"` // header | section | context | divider | actions
	BlockID  string       `json:"block_id,omitempty"`
	Text     *textObject  `json:"text,omitempty"`
	Fields   []textObject `json:"fields,omitempty"`
	Elements []any        `json:"elements,omitempty"` // context: text objects; actions: buttons
}

// button is a Block Kit button element
// (https://docs.slack.dev/reference/block-kit/block-elements/button-element).
type button struct {
	Type     string     `json:"type"` // button
	Text     textObject `json:"text"` // plain_text, at most 75 characters
	ActionID string     `json:"action_id"`
	Value    string     `json:"value,omitempty"`
	Style    string     `json:"style,omitempty"` // primary | danger
}

type textObject struct {
	Type  string `json:"type"` // plain_text | mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwn(s string) textObject { return textObject{Type: "mrkdwn", Text: s} }

// payload renders m. Every piece of text that comes from the incident (which
// may come from the leaker's own content: a file path, a ticket title) is
// escaped, so that it cannot inject mentions (<!channel>) or links.
func (n *Notifier) payload(m notify.Message) payload {
	p := payload{
		Channel:   m.Channel,
		Username:  n.conf.Username,
		IconEmoji: n.conf.IconEmoji,
		Text:      truncate(fallback(m), maxFallback),
	}
	if p.Channel == "" {
		p.Channel = n.conf.DefaultChannel
	}

	p.Blocks = append(p.Blocks, block{Type: "header", Text: &textObject{
		Type: "plain_text", Text: truncate(severityEmoji(m.Severity)+title(m), maxHeaderText), Emoji: true,
	}})
	if t := strings.TrimSpace(m.Text); t != "" {
		p.Blocks = append(p.Blocks, block{Type: "section", Text: ptr(mrkdwn(truncate(escape(t), maxSectionText)))})
	}

	var fields []textObject
	add := func(label, value string) {
		if value != "" {
			fields = append(fields, mrkdwn(truncate("*"+label+"*\n"+value, maxFieldText)))
		}
	}
	add("Provider", escape(m.Provider))
	add("Secret type", code(m.SecretType))
	add("Key", code(m.Redacted))
	add("Severity", escape(m.Severity))
	add("Where", where(m.Where, m.WhereURL))
	add("State", escape(m.State))
	add("Incident", code(m.Incident))
	add("Correlation", code(m.Correlation))
	if len(fields) > 0 {
		p.Blocks = append(p.Blocks, block{Type: "section", Fields: fields})
	}

	if len(m.Actions) > 0 {
		var b strings.Builder
		b.WriteString("*What was done*")
		for _, a := range m.Actions {
			b.WriteString("\n• " + escape(a))
		}
		p.Blocks = append(p.Blocks, block{Type: "section", Text: ptr(mrkdwn(truncate(b.String(), maxSectionText)))})
	}

	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	omitted := 0
	if len(keys) > maxExtraFields {
		omitted = len(keys) - maxExtraFields
		keys = keys[:maxExtraFields]
	}
	for len(keys) > 0 {
		chunk := keys[:min(maxFields, len(keys))]
		keys = keys[len(chunk):]
		var fs []textObject
		for _, k := range chunk {
			fs = append(fs, mrkdwn(truncate("*"+escape(k)+"*\n"+escape(m.Fields[k]), maxFieldText)))
		}
		p.Blocks = append(p.Blocks, block{Type: "section", Fields: fs})
	}

	ctx := "Firebreak"
	if m.Incident != "" {
		ctx += " · incident " + code(m.Incident)
	}
	if !m.At.IsZero() {
		// Slack renders <!date^…> in the reader's time zone; the text after |
		// is the fallback for clients that cannot.
		ctx += fmt.Sprintf(" · <!date^%d^{date_short_pretty} {time_secs}|%s>", m.At.Unix(), m.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if omitted > 0 {
		ctx += fmt.Sprintf(" · %d more fields not shown", omitted)
	}
	if len(m.Buttons) > 0 {
		// An actions block: a click makes Slack post a block_actions
		// payload to the app's interactivity Request URL.
		var els []any
		for _, b := range m.Buttons[:min(len(m.Buttons), 25)] {
			els = append(els, button{Type: "button", Text: textObject{Type: "plain_text", Text: truncate(b.Text, 75), Emoji: true},
				ActionID: b.ActionID, Value: truncate(b.Value, 2000), Style: b.Style})
		}
		p.Blocks = append(p.Blocks, block{Type: "actions", BlockID: "firebreak_actions", Elements: els})
	}
	p.Blocks = append(p.Blocks, block{Type: "context", Elements: []any{mrkdwn(ctx)}})
	return p
}

func title(m notify.Message) string {
	if t := strings.TrimSpace(m.Title); t != "" {
		return t
	}
	if m.Provider != "" {
		return "Leaked " + m.Provider + " secret"
	}
	return "Leaked secret"
}

func severityEmoji(s string) string {
	switch strings.ToLower(s) {
	case "critical":
		return ":rotating_light: "
	case "warning":
		return ":warning: "
	case "info":
		return ":information_source: "
	}
	return ""
}

// fallback is the top-level text: what notifications and clients without
// Block Kit show.
func fallback(m notify.Message) string {
	var b strings.Builder
	b.WriteString(escape(title(m)))
	if m.Redacted != "" {
		b.WriteString(": " + escape(m.Redacted))
	}
	if m.Provider != "" || m.SecretType != "" {
		b.WriteString(" (" + escape(strings.TrimSpace(m.Provider+" "+m.SecretType)) + ")")
	}
	if m.Where != "" {
		b.WriteString(" at " + escape(m.Where))
	} else if m.WhereURL != "" {
		b.WriteString(" at " + escape(m.WhereURL))
	}
	if len(m.Actions) > 0 {
		b.WriteString(". Done: " + escape(strings.Join(m.Actions, "; ")))
	}
	if m.Incident != "" {
		b.WriteString(". Incident " + escape(m.Incident))
	}
	return b.String()
}

// escape applies Slack's mrkdwn escaping: &, < and > are control characters.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// code renders s as inline code, or escaped text when it contains a backtick.
func code(s string) string {
	if s == "" {
		return ""
	}
	if strings.Contains(s, "`") {
		return escape(s)
	}
	return "`" + escape(s) + "`"
}

// linkEscaper makes a URL safe inside <url|label>: Slack's control characters
// and the label separator are escaped. (A Replacer is safe for concurrent use;
// building one per message cost more than the rest of the message.)
var linkEscaper = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20")

// where renders the leak location, linked when a usable http(s) URL is known.
func where(label, rawURL string) string {
	link := ""
	if u, err := url.Parse(rawURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		link = linkEscaper.Replace(u.String())
	}
	switch {
	case link == "":
		return escape(label)
	case label == "":
		return "<" + link + ">"
	default:
		return "<" + link + "|" + escape(label) + ">"
	}
}

// truncate bounds s to max characters (runes), ending with an ellipsis when
// cut. It never cuts inside an escape sequence such as &amp;.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max-1]
	if i := lastIndexRune(r, '&'); i >= 0 && i >= len(r)-5 && !containsRune(r[i:], ';') {
		r = r[:i]
	}
	return string(r) + "…"
}

func lastIndexRune(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

func containsRune(r []rune, c rune) bool {
	for _, x := range r {
		if x == c {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// BlockKit renders m as this package renders it for webhooks — the
// plain-text fallback and the Block Kit blocks — for other Slack transports
// (the chat.postMessage notifier) to send the same message.
func BlockKit(m notify.Message) (fallbackText string, blocks any) {
	p := (&Notifier{}).payload(m)
	return p.Text, p.Blocks
}
