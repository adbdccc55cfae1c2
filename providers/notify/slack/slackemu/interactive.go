package slackemu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// User is the Slack user who clicks a button.
type User struct {
	ID       string // U…
	Username string
	Name     string
	TeamID   string // T…
}

// Click plays Slack's side of an interactive message: the user clicks the
// button with actionID in m, and Slack POSTs a block_actions interaction
// payload to the app's Request URL, form-encoded as payload=<json>, with
// X-Slack-Request-Timestamp and X-Slack-Signature (v0= HMAC-SHA256 of
// "v0:{ts}:{body}" under the app's signing secret), as documented at
// https://docs.slack.dev/reference/interaction-payloads/block_actions-payload
// and https://docs.slack.dev/authentication/verifying-requests-from-slack.
// at is the request time (tests pass an old one to check replay protection).
func (e *Emulator) Click(ctx context.Context, requestURL string, signingSecret []byte, m Message, actionID string, u User, at time.Time) (*http.Response, error) {
	var btn *Button
	for _, b := range m.Buttons() {
		if b.ActionID == actionID {
			btn = &b
			break
		}
	}
	if btn == nil {
		return nil, fmt.Errorf("message has no button %q", actionID)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": u.ID, "username": u.Username, "name": u.Name, "team_id": u.TeamID},
		"api_app_id":   "A0FIREBREAK",
		"token":        "verification-token-deprecated",
		"container":    map[string]any{"type": "message", "message_ts": ts + ".000100", "channel_id": "C0SECINC", "is_ephemeral": false},
		"trigger_id":   ts + ".1234567890.abcdef",
		"team":         map[string]any{"id": u.TeamID, "domain": "acme"},
		"channel":      map[string]any{"id": "C0SECINC", "name": m.Channel},
		"message":      map[string]any{"type": "message", "ts": ts + ".000100", "text": m.Text},
		"response_url": e.URL() + "/actions/" + u.TeamID + "/" + ts + "/response",
		"actions": []map[string]any{{
			"type": "button", "action_id": btn.ActionID, "block_id": "firebreak_actions", "value": btn.Value,
			"text": map[string]any{"type": "plain_text", "text": btn.Text.Text, "emoji": true}, "action_ts": ts + ".5",
		}},
	}
	pj, _ := json.Marshal(payload)
	body := []byte(url.Values{"payload": {string(pj)}}.Encode())
	mac := hmac.New(sha256.New, signingSecret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, requestURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return http.DefaultClient.Do(req)
}
