// Package teams notifies a Microsoft Teams channel through an incoming
// webhook (a Workflows "When a Teams webhook request is received" flow or a
// legacy Office 365 connector) with an Adaptive Card
// (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook):
// a JSON POST {"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard",
// "version":"1.4","body":[…],"actions":[…]}}]}.
//
// Answers: Workflows answer 202; connectors answer 200 "1". A connector
// reports a failed delivery as HTTP 200 with "Webhook message delivery
// failed with error: Microsoft Teams endpoint returned HTTP error 429 …":
// that text's status decides the class like an HTTP status would. Non-2xx:
// 429 and 5xx are retryable (Retry-After honoured), other 4xx permanent. The
// webhook URL is a credential (its path carries the signature): it comes
// from a secret.Source and is scrubbed from every error.
package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name (notify.teams).
const Name = "teams"

// Config configures a Notifier.
type Config struct {
	WebhookURL secret.Source
	HTTPClient *http.Client
}

// Notifier posts Adaptive Cards to a Teams webhook.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.WebhookURL == nil {
		return nil, errors.New("teams: webhook_url is required")
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	return &Notifier{cfg: cfg, client: c}, nil
}

// Card builds the Adaptive Card message for m.
func Card(m notify.Message) map[string]any {
	color := "Warning"
	if m.Severity == "critical" {
		color = "Attention"
	}
	facts := []map[string]string{}
	add := func(k, v string) {
		if v != "" {
			facts = append(facts, map[string]string{"title": k, "value": v})
		}
	}
	add("Incident", m.Incident)
	add("Provider", m.Provider)
	add("Secret type", m.SecretType)
	add("Key", m.Redacted)
	add("Severity", m.Severity)
	add("State", m.State)
	add("Where", m.Where)
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, m.Fields[k])
	}
	body := []any{
		map[string]any{"type": "TextBlock", "size": "Large", "weight": "Bolder", "color": color, "text": m.Title, "wrap": true},
		map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true},
		map[string]any{"type": "FactSet", "facts": facts},
	}
	if len(m.Actions) > 0 {
		body = append(body, map[string]any{"type": "TextBlock", "text": "- " + strings.Join(m.Actions, "\n- "), "wrap": true, "isSubtle": true})
	}
	var actions []any
	if m.WhereURL != "" {
		actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": "Where it leaked", "url": m.WhereURL})
	}
	if u := m.Fields["incident_url"]; u != "" {
		actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": "Incident", "url": u})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
		"body": body, "msteams": map[string]any{"width": "Full"}}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}

func validURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback())
}

var connectorStatus = regexp.MustCompile(`returned HTTP error (\d{3})`)

func (n *Notifier) fail(class providers.Class, status int, msg string) (bool, error) {
	return class == providers.Retryable, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Status: status, Message: msg}
}

// Notify posts m.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	body, err := json.Marshal(Card(m))
	if err != nil {
		return n.fail(providers.Permanent, 0, "encode card")
	}
	hook, err := n.cfg.WebhookURL.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "webhook URL", err)
		return pe.Class == providers.Retryable, pe
	}
	raw := strings.TrimSpace(hook.Reveal())
	if !validURL(raw) {
		return n.fail(providers.Permanent, 0, "webhook URL is not an https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		return n.fail(providers.Permanent, 0, "cannot build the webhook request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		pe := notify.TransportError(Name, err, raw)
		return pe.Class == providers.Retryable, pe
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	text := notify.ErrorTextScrubbed(b, raw)
	if resp.StatusCode/100 == 2 {
		if strings.Contains(string(b), "delivery failed") {
			status := http.StatusBadRequest
			if mm := connectorStatus.FindStringSubmatch(string(b)); mm != nil {
				status, _ = strconv.Atoi(mm[1])
			}
			return n.fail(providers.ClassifyStatus(status), status, text)
		}
		return false, nil
	}
	pe := providers.StatusError(Name, notify.OpNotify, resp, text)
	return pe.Class == providers.Retryable, pe
}
