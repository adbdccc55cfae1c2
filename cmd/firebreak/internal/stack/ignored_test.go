package stack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// TestIgnoredEventsSayWhy: a signed event Firebreak does not handle, and a
// secret_scanning_alert whose action needs no response, are answered 202
// with {"ignored": true, "reason": ...} naming the event or the action (so
// that GitHub's delivery log tells the sender why), and publish nothing.
func TestIgnoredEventsSayWhy(t *testing.T) {
	e := start(t, stack.Options{})
	cases := []struct {
		event string
		body  []byte
		want  []string // what the reason must name
	}{
		{"push", []byte(`{"ref":"refs/heads/main"}`), []string{`"push"`}},
		{"pull_request", []byte(`{"action":"opened"}`), []string{`"pull_request"`}},
		{"secret_scanning_alert", stack.AlertPayload("assigned", "acme/app", 1, "openai_api_key"), []string{"secret_scanning_alert", `"assigned"`}},
		{"secret_scanning_alert", stack.AlertPayload("unassigned", "acme/app", 1, "openai_api_key"), []string{"secret_scanning_alert", `"unassigned"`}},
	}
	for i, c := range cases {
		code, b, err := e.PostGitHub(context.Background(), c.event, "d-ignored-"+strconv.Itoa(i), c.body)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Ignored bool   `json:"ignored"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatalf("%s: body is not JSON: %s", c.event, b)
		}
		if code != http.StatusAccepted || !resp.Ignored {
			t.Errorf("%s: %d %s, want 202 ignored", c.event, code, b)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(resp.Reason, w) {
				t.Errorf("%s: reason %q does not name %s", c.event, resp.Reason, w)
			}
		}
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 0 {
		t.Fatalf("%d exposures published from ignored events", n)
	}
}
