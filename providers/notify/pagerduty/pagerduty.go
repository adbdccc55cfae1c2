// Package pagerduty pages people through the PagerDuty Events API v2
// (https://developer.pagerduty.com/docs/events-api-v2/overview/):
// POST https://events.pagerduty.com/v2/enqueue with a JSON event
// {"routing_key","event_action":"trigger"|"acknowledge"|"resolve",
// "dedup_key","payload":{"summary","source","severity","timestamp",
// "component","group","class","custom_details"},"links","client","client_url"}.
//
// The incident id is the dedup_key, so every page about one incident lands
// on one PagerDuty alert, and a later "resolve" (a playbook step with
// action: resolve once the key is contained) closes it. The routing key (an
// integration key of a service, 32 characters) is the credential: it comes
// from a secret.Source and never appears in an error.
//
// Answers: 202 {"status":"success","message":"Event processed","dedup_key"};
// 400 {"status":"invalid event","message","errors":[…]} is permanent; 429
// (rate limited; the docs advise backing off) and 5xx are retryable.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name (notify.pagerduty).
const Name = "pagerduty"

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Event actions.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Config configures a Notifier.
type Config struct {
	URL        string        // DefaultURL when empty
	RoutingKey secret.Source // the service's integration key
	Source     string        // payload.source; "firebreak" when empty
	HTTPClient *http.Client
}

// Notifier sends Events API v2 events.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.RoutingKey == nil {
		return nil, errors.New("pagerduty: routing_key is required")
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Source == "" {
		cfg.Source = "firebreak"
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	return &Notifier{cfg: cfg, client: c}, nil
}

// Event is an Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Payload is a trigger event's payload.
type Payload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

func severity(s string) string {
	switch s {
	case "critical", "error", "warning", "info":
		return s
	}
	return "warning"
}

// event builds the event for m; the routing key is added at send time.
func (n *Notifier) event(m notify.Message) Event {
	action := m.Fields["action"]
	if action == "" {
		action = ActionTrigger
	}
	ev := Event{EventAction: action, DedupKey: m.Incident, Client: "Firebreak"}
	if u := m.Fields["incident_url"]; u != "" {
		ev.ClientURL = u
	}
	if action != ActionTrigger {
		return ev
	}
	summary := m.Text
	if summary == "" {
		summary = m.Title
	}
	if len(summary) > 1024 {
		summary = summary[:1021] + "..."
	}
	details := map[string]string{"incident": m.Incident, "provider": m.Provider, "secret_type": m.SecretType, "key": m.Redacted,
		"where": m.Where, "state": m.State}
	for k, v := range m.Fields {
		if k != "action" {
			details[k] = v
		}
	}
	if len(m.Actions) > 0 {
		details["actions"] = strings.Join(m.Actions, "\n")
	}
	for k, v := range details {
		if v == "" {
			delete(details, k)
		}
	}
	ev.Payload = &Payload{Summary: summary, Source: n.cfg.Source, Severity: severity(m.Severity), Component: m.Provider,
		Group: "leaked-secrets", Class: m.SecretType, CustomDetails: details}
	if !m.At.IsZero() {
		ev.Payload.Timestamp = m.At.UTC().Format(time.RFC3339)
	}
	if m.WhereURL != "" {
		ev.Links = append(ev.Links, Link{Href: m.WhereURL, Text: "Where the key leaked"})
	}
	if ev.ClientURL != "" {
		ev.Links = append(ev.Links, Link{Href: ev.ClientURL, Text: "Firebreak incident"})
	}
	sort.Slice(ev.Links, func(i, j int) bool { return ev.Links[i].Text < ev.Links[j].Text })
	return ev
}

func (n *Notifier) fail(class providers.Class, status int, msg string, err error) (bool, error) {
	return class == providers.Retryable, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Status: status, Message: msg, Err: err}
}

// Notify sends m as an event (m.Fields["action"] picks trigger, acknowledge
// or resolve; trigger by default).
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	if m.Incident == "" {
		return n.fail(providers.Permanent, 0, "a PagerDuty event needs the incident id as its dedup key", nil)
	}
	ev := n.event(m)
	switch ev.EventAction {
	case ActionTrigger, ActionAcknowledge, ActionResolve:
	default:
		return n.fail(providers.Permanent, 0, "action must be trigger, acknowledge or resolve, got "+ev.EventAction, nil)
	}
	rk, err := n.cfg.RoutingKey.Secret(ctx)
	if err != nil {
		pe := notify.SourceError(Name, "routing key", err)
		return pe.Class == providers.Retryable, pe
	}
	ev.RoutingKey = strings.TrimSpace(rk.Reveal())
	body, err := json.Marshal(ev)
	if err != nil {
		return n.fail(providers.Permanent, 0, "encode event", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return n.fail(providers.Permanent, 0, "cannot build the request", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "firebreak")
	resp, err := n.client.Do(req)
	if err != nil {
		pe := notify.TransportError(Name, err, n.cfg.URL)
		return pe.Class == providers.Retryable, pe
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	var out struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(b, &out) == nil && out.Message != "" {
		msg = out.Message
		if len(out.Errors) > 0 {
			msg += ": " + strings.Join(out.Errors, "; ")
		}
	}
	msg = providers.ScrubMessage(msg, rk)
	pe := providers.StatusError(Name, notify.OpNotify, resp, msg)
	return pe.Class == providers.Retryable, pe
}
