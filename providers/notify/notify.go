// Package notify defines how Firebreak tells people about an incident. Each
// notifier (Slack, a signed generic webhook, and more) lives in its own
// sub-package with the same shape: New(Config) returns a Notifier whose Notify
// reports whether a failure is worth retrying, as Alertmanager's notifiers do.
package notify

import (
	"context"
	"net/http"
	"time"

	"github.com/firebreak-sec/firebreak/providers"
)

// Message is what a notifier sends. It never carries a raw secret: Redacted is
// the hint ("sk-proj-…x9Qa").
type Message struct {
	Incident    string            `json:"incident"`
	Correlation string            `json:"correlation_id,omitempty"`
	Severity    string            `json:"severity,omitempty"` // info | warning | critical
	State       string            `json:"state,omitempty"`    // incident state after the step
	Title       string            `json:"title"`
	Text        string            `json:"text"` // rendered from the playbook's template
	Provider    string            `json:"provider"`
	SecretType  string            `json:"secret_type"`
	Redacted    string            `json:"redacted"`
	Where       string            `json:"where,omitempty"` // human-readable location ("org/repo: path/file.py:12")
	WhereURL    string            `json:"where_url,omitempty"`
	Actions     []string          `json:"actions,omitempty"` // what was done ("revoked key key_abc at OpenAI")
	Channel     string            `json:"channel,omitempty"` // destination override (Slack channel, email, ...)
	Fields      map[string]string `json:"fields,omitempty"`
	At          time.Time         `json:"at"`
	// Buttons are interactive buttons (Slack renders them as an actions
	// block; approval requests use them). Notifiers that cannot show
	// buttons ignore them.
	Buttons []Button `json:"buttons,omitempty"`
	// Links are named URLs for machine receivers (the signed webhook), e.g.
	// the signed one-time approval link of each approver. Chat notifiers do
	// not show them: anyone in a channel could use them.
	Links map[string]string `json:"links,omitempty"`
}

// Button is an interactive button: ActionID and Value come back in the
// platform's callback (Slack block_actions); Style is "primary" or "danger".
type Button struct {
	Text     string `json:"text"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style,omitempty"`
}

// Notifier sends a message. err may be a *providers.Error carrying the
// endpoint's Retry-After. retry reports whether a failed send may succeed if
// tried again (429, 5xx, network errors); permanent failures return false.
type Notifier interface {
	Notify(ctx context.Context, m Message) (retry bool, err error)
}

// OpNotify names the notify operation in a *providers.Error.
const OpNotify providers.Op = "notify"

// Retry classifies a notifier's HTTP answer like providers.ClassifyStatus.
func Retry(status int) bool { return providers.ClassifyStatus(status) == providers.Retryable }

// RetryAfter returns the delay a notifier endpoint asked for, if any.
func RetryAfter(resp *http.Response) time.Duration {
	return providers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
}
