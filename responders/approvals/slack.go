package approvals

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack interactive messages. An approval request posted to Slack carries
// two buttons (action_id firebreak_approve / firebreak_deny, value = the
// approval id); a click makes Slack POST a block_actions interaction payload
// to the app's Request URL (`/v1/approvals/slack`), form-encoded as
// payload=<json>, signed with the app's signing secret
// (https://docs.slack.dev/authentication/verifying-requests-from-slack,
// https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).

// Action ids of the approval buttons.
const (
	SlackApprove = "firebreak_approve"
	SlackDeny    = "firebreak_deny"
)

// SlackMaxAge is how old a request timestamp may be (Slack's guidance:
// five minutes), against replays of a captured request.
const SlackMaxAge = 5 * time.Minute

// ErrSlackSignature is wrapped by VerifySlack's errors.
var ErrSlackSignature = errors.New("slack request verification failed")

// SlackSignature is the X-Slack-Signature of body sent at timestamp ts.
func SlackSignature(signingSecret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, signingSecret)
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySlack checks X-Slack-Request-Timestamp (within SlackMaxAge of now)
// and X-Slack-Signature (v0= HMAC-SHA256 of "v0:{ts}:{body}", compared in
// constant time).
func VerifySlack(signingSecret []byte, ts, sig string, body []byte, now time.Time) error {
	if ts == "" || sig == "" {
		return fmt.Errorf("%w: X-Slack-Request-Timestamp and X-Slack-Signature are required", ErrSlackSignature)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: X-Slack-Request-Timestamp is not a unix time", ErrSlackSignature)
	}
	age := now.Sub(time.Unix(n, 0))
	if age > SlackMaxAge || age < -SlackMaxAge {
		return fmt.Errorf("%w: X-Slack-Request-Timestamp is %s away from now (limit %s)", ErrSlackSignature, age.Round(time.Second), SlackMaxAge)
	}
	if len(signingSecret) == 0 || !hmac.Equal([]byte(sig), []byte(SlackSignature(signingSecret, ts, body))) {
		return fmt.Errorf("%w: X-Slack-Signature does not match the body", ErrSlackSignature)
	}
	return nil
}

// SlackAction is the part of a block_actions payload an approval needs.
type SlackAction struct {
	UserID      string
	Username    string
	Name        string
	TeamID      string
	ActionID    string
	Value       string // the approval id
	ResponseURL string
}

type slackPayload struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
		TeamID   string `json:"team_id"`
	} `json:"user"`
	Team *struct {
		ID string `json:"id"`
	} `json:"team"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Type     string `json:"type"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// ErrSlackPayload is wrapped by ParseSlack's errors.
var ErrSlackPayload = errors.New("bad Slack interaction")

// ParseSlack reads the form-encoded payload of a block_actions interaction
// and returns the Firebreak approval action in it: the first action whose
// action_id is SlackApprove or SlackDeny, its value (the approval id,
// trimmed) starting with "apr_", from a user with an id. Its errors wrap
// ErrSlackPayload and stay short: they quote at most 32 bytes of the body.
func ParseSlack(body []byte) (SlackAction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return SlackAction{}, fmt.Errorf("%w: body is not form-encoded: %w", ErrSlackPayload, err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return SlackAction{}, fmt.Errorf("%w: no payload field (Slack sends payload=<json>)", ErrSlackPayload)
	}
	var p slackPayload
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "":
			return SlackAction{}, fmt.Errorf("%w: payload is a JSON %s, not an object", ErrSlackPayload, te.Value)
		case errors.As(err, &te): // the field is one of slackPayload's, not a key of the body
			return SlackAction{}, fmt.Errorf("%w: payload field %s is a JSON %s", ErrSlackPayload, te.Field, te.Value)
		}
		return SlackAction{}, fmt.Errorf("%w: payload is not JSON: %w", ErrSlackPayload, err)
	}
	if p.Type != "block_actions" {
		return SlackAction{}, fmt.Errorf("%w: payload type %q is not block_actions", ErrSlackPayload, clip(p.Type, 32))
	}
	if p.User.ID == "" {
		return SlackAction{}, fmt.Errorf("%w: payload has no user.id", ErrSlackPayload)
	}
	for _, a := range p.Actions {
		if a.ActionID == SlackApprove || a.ActionID == SlackDeny {
			out := SlackAction{UserID: p.User.ID, Username: p.User.Username, Name: p.User.Name, TeamID: p.User.TeamID,
				ActionID: a.ActionID, Value: strings.TrimSpace(a.Value), ResponseURL: p.ResponseURL}
			if out.TeamID == "" && p.Team != nil {
				out.TeamID = p.Team.ID
			}
			if !strings.HasPrefix(out.Value, "apr_") {
				return SlackAction{}, fmt.Errorf("%w: action %s carries no approval id", ErrSlackPayload, a.ActionID)
			}
			return out, nil
		}
	}
	return SlackAction{}, fmt.Errorf("%w: payload has no Firebreak approval action", ErrSlackPayload)
}

// clip is s cut to at most n bytes (at a rune boundary), marked with "…"
// when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
