package approvals_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/responders/approvals"
)

// slackBody is a Slack interaction request body: payload=<json>, form-encoded.
func slackBody(payload string) string { return "payload=" + url.QueryEscape(payload) }

const clickApprove = `{"type":"block_actions","user":{"id":"U0ALICE","username":"alice","name":"Alice","team_id":"T1"},
"response_url":"https://hooks.slack.com/actions/T1/1/x",
"actions":[{"action_id":"firebreak_approve","block_id":"b","type":"button","value":"apr_0123456789abcdef01234567"}]}`

func TestParseSlack(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		want approvals.SlackAction
	}{
		"approve": {slackBody(clickApprove), approvals.SlackAction{UserID: "U0ALICE", Username: "alice", Name: "Alice", TeamID: "T1",
			ActionID: approvals.SlackApprove, Value: "apr_0123456789abcdef01234567", ResponseURL: "https://hooks.slack.com/actions/T1/1/x"}},
		// The team from payload.team when the user has none; the value
		// trimmed; the first Firebreak button among other actions.
		"deny after another action": {"token=x&" + slackBody(`{"type":"block_actions","user":{"id":"U2"},"team":{"id":"T2"},
			"actions":[{"action_id":"other","value":"apr_x"},{"action_id":"firebreak_deny","value":" apr_9 "},{"action_id":"firebreak_approve","value":"apr_8"}]}`),
			approvals.SlackAction{UserID: "U2", TeamID: "T2", ActionID: approvals.SlackDeny, Value: "apr_9"}},
	} {
		got, err := approvals.ParseSlack([]byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, c.want)
		}
	}
	long := strings.Repeat("x", 4096)
	for name, c := range map[string]struct{ body, msg string }{
		"not form-encoded": {"payload=%zz", `bad Slack interaction: body is not form-encoded: invalid URL escape "%zz"`},
		"empty body":       {"", "bad Slack interaction: no payload field (Slack sends payload=<json>)"},
		"no payload field": {"token=x&team_id=T1", "bad Slack interaction: no payload field (Slack sends payload=<json>)"},
		"empty payload":    {"payload=", "bad Slack interaction: no payload field (Slack sends payload=<json>)"},
		"payload raw JSON": {clickApprove, "bad Slack interaction: no payload field (Slack sends payload=<json>)"},
		"truncated JSON":   {slackBody(`{"type":"block_actions"`), "bad Slack interaction: payload is not JSON: unexpected end of JSON input"},
		"not an object":    {slackBody(`"block_actions"`), "bad Slack interaction: payload is a JSON string, not an object"},
		"a field of another type": {slackBody(`{"type":"block_actions","user":[]}`),
			"bad Slack interaction: payload field user is a JSON array"},
		"a nested field of another type": {slackBody(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":1}]}`),
			"bad Slack interaction: payload field actions.action_id is a JSON number"},
		"wrong type": {slackBody(`{"type":"view_submission","user":{"id":"U1"}}`), `bad Slack interaction: payload type "view_submission" is not block_actions`},
		"no type":    {slackBody(`{"user":{"id":"U1"}}`), `bad Slack interaction: payload type "" is not block_actions`},
		"a long type is clipped": {slackBody(`{"type":"` + long + `"}`),
			`bad Slack interaction: payload type "` + strings.Repeat("x", 32) + `…" is not block_actions`},
		"no user id": {slackBody(`{"type":"block_actions","user":{"name":"alice"},"actions":[{"action_id":"firebreak_approve","value":"apr_1"}]}`),
			"bad Slack interaction: payload has no user.id"},
		"no action": {slackBody(`{"type":"block_actions","user":{"id":"U1"},"actions":[]}`),
			"bad Slack interaction: payload has no Firebreak approval action"},
		"another app's action": {slackBody(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"approve","value":"apr_1"}]}`),
			"bad Slack interaction: payload has no Firebreak approval action"},
		"value without apr_": {slackBody(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"firebreak_approve","value":"inc_1"}]}`),
			"bad Slack interaction: action firebreak_approve carries no approval id"},
		"empty value": {slackBody(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"firebreak_deny"}]}`),
			"bad Slack interaction: action firebreak_deny carries no approval id"},
	} {
		got, err := approvals.ParseSlack([]byte(c.body))
		if err == nil || err.Error() != c.msg || !errors.Is(err, approvals.ErrSlackPayload) {
			t.Errorf("%s: %+v, %v; want the error %q", name, got, err, c.msg)
		}
	}
}

// FuzzParseSlack: what ParseSlack accepts is an approval action — a user
// id, one of the two buttons, an approval id; what it refuses is an
// ErrSlackPayload whose message is short (at most 200 bytes however long
// the body) and so never the body or the payload it carries. Each input is
// parsed as a body and, wrapped as Slack would send it, as a payload.
func FuzzParseSlack(f *testing.F) {
	for _, s := range []string{clickApprove, `{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"firebreak_deny","value":" apr_1"}]}`,
		`{"type":"block_actions","user":{"id":""},"actions":[{"action_id":"firebreak_deny","value":"apr_1"}]}`,
		`{"type":"` + strings.Repeat("é", 40) + `"}`, `{"type":"` + strings.Repeat(`\u0000`, 300) + `"}`, `[]`, `{"actions":null}`, "payload=%zz", "payload=a;b", "payload=" + slackBody("x")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, body := range []string{s, slackBody(s)} {
			a, err := approvals.ParseSlack([]byte(body))
			if err == nil {
				if a.UserID == "" || !strings.HasPrefix(a.Value, "apr_") || a.Value != strings.TrimSpace(a.Value) ||
					a.ActionID != approvals.SlackApprove && a.ActionID != approvals.SlackDeny {
					t.Fatalf("ParseSlack accepted %+v", a)
				}
				continue
			}
			msg := err.Error()
			if !errors.Is(err, approvals.ErrSlackPayload) {
				t.Fatalf("error %q does not wrap ErrSlackPayload", msg)
			}
			if len(msg) > 200 {
				t.Fatalf("a %d-byte error for a %d-byte body: %.200q…", len(msg), len(body), msg)
			}
			form, _ := url.ParseQuery(body)
			for _, in := range []string{body, form.Get("payload")} {
				if len(in) > 32 && strings.Contains(msg, in) {
					t.Fatalf("error %q echoes the input", msg)
				}
			}
		}
	})
}
