package stack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// threeLeaks makes three incidents, one after the other (each contained
// before the next leaks): a GitHub alert of an OpenAI key (environment
// unknown), a Google key in the logs (prod) and a Stripe key in Loki
// (staging). It returns them in order of creation.
func threeLeaks(t *testing.T, e *env) (gh, logs, loki *incident.Incident) {
	t.Helper()
	_, _, a := leakAlert(t, e, "acme/payments-api", 61, "d-filters-1")
	gh = waitState(t, e, a, incident.Contained)
	raw, _ := e.Breadth.Google.AddKey("proj-payments", false)
	b, err := e.PublishSecret(context.Background(), exposure.SourceLogs, "google", "google_api_key", raw,
		exposure.Location{Stream: `{app="api"}`, Labels: map[string]string{"env": "prod"}})
	must(t, err)
	logs = waitState(t, e, b, incident.Contained)
	c, err := e.PublishSecret(context.Background(), exposure.SourceLoki, "stripe", "stripe_api_key", e.Breadth.Stripe.AddSecretKey(),
		exposure.Location{Stream: `{app="billing"}`, Labels: map[string]string{"env": "staging"}})
	must(t, err)
	loki = waitState(t, e, c, incident.Contained)
	if !gh.CreatedAt.Before(logs.CreatedAt) || !logs.CreatedAt.Before(loki.CreatedAt) {
		t.Fatalf("incidents not created in order: %v %v %v", gh.CreatedAt, logs.CreatedAt, loki.CreatedAt)
	}
	return gh, logs, loki
}

// listIncidents calls GET /v1/incidents?query and returns the ids listed.
func listIncidents(t *testing.T, e *env, token, query string) (int, []string, string) {
	t.Helper()
	code, body := api(t, e, "GET", "/v1/incidents?"+query, token, nil)
	var out struct{ Incidents []incident.Incident }
	_ = json.Unmarshal(body, &out)
	ids := []string{}
	for _, in := range out.Incidents {
		ids = append(ids, in.ID)
	}
	return code, ids, string(body)
}

// GET /v1/incidents lists the incidents newest first and keeps only those
// every filter given holds for; a filter no incident meets lists none; a
// bad parameter is a 400 that names it.
func TestIncidentListFilters(t *testing.T) {
	e := start(t, stack.Options{})
	gh, logs, loki := threeLeaks(t, e)
	tok := newToken(t, e, "reader", tokens.Read)
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{loki.ID, logs.ID, gh.ID}},
		{q("provider", "google"), []string{logs.ID}},
		{q("provider", "anthropic"), []string{}},
		{q("source", "github"), []string{gh.ID}},
		{q("source", "loki"), []string{loki.ID}},
		{q("source", "jira"), []string{}},
		{q("environment", "prod"), []string{logs.ID}},
		{q("environment", "staging"), []string{loki.ID}},
		{q("environment", "dev"), []string{}},
		{q("state", "contained"), []string{loki.ID, logs.ID, gh.ID}},
		{q("state", "failed"), []string{}},
		{q("since", "1h"), []string{loki.ID, logs.ID, gh.ID}},
		// An incident created at the since time is listed; one before is not.
		{q("since", logs.CreatedAt.Format(time.RFC3339Nano)), []string{loki.ID, logs.ID}},
		{q("since", loki.CreatedAt.Add(time.Hour).Format(time.RFC3339)), []string{}},
		{q("since", logs.CreatedAt.Format(time.RFC3339Nano), "provider", "openai"), []string{}},
		{q("since", logs.CreatedAt.Format(time.RFC3339Nano), "source", "logs"), []string{logs.ID}},
		{q("limit", "1"), []string{loki.ID}},
		{q("limit", "2"), []string{loki.ID, logs.ID}},
		{q("limit", "1", "provider", "openai"), []string{gh.ID}},
	} {
		code, ids, body := listIncidents(t, e, tok, c.query)
		if code != http.StatusOK || !slices.Equal(ids, c.want) {
			t.Errorf("GET /v1/incidents?%s: %d %v, want %v (%s)", c.query, code, ids, c.want, tail(body, 300))
		}
	}
	for _, c := range []struct{ query, want string }{
		{q("since", "106752d"), `since: "106752d" is out of range: a time ago reaches back at most 106751d (about 292 years)`},
		{q("since", "2562048h"), `since: "2562048h" is out of range: a time ago reaches back at most 106751d (about 292 years)`},
		{q("since", "yesterday"), `since: "yesterday" is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time`},
		{q("limit", "0"), `limit must be a positive integer, got "0"`},
	} {
		code, body := api(t, e, "GET", "/v1/incidents?"+c.query, tok, nil)
		var answer struct{ Error string }
		_ = json.Unmarshal(body, &answer)
		if code != http.StatusBadRequest || answer.Error != c.want {
			t.Errorf("GET /v1/incidents?%s: %d %s, want 400 %q", c.query, code, body, c.want)
		}
	}
	// The audit export reads since and until the same way.
	for _, name := range []string{"since", "until"} {
		code, body := api(t, e, "GET", "/v1/audit?"+q(name, "106752d"), tok, nil)
		if code != http.StatusBadRequest || !strings.Contains(string(body), name+`: \"106752d\" is out of range`) {
			t.Errorf("GET /v1/audit?%s=106752d: %d %s, want a 400 naming %s", name, code, body, name)
		}
	}
}

// POST /v1/replay selects stored exposures by time and keeps those every
// filter holds for: a filter no exposure meets selects none, until stops
// the selection, limit truncates it, and a sequence range over 100000
// messages is refused.
func TestReplayFilters(t *testing.T) {
	e := start(t, stack.Options{})
	gh, logs, loki := threeLeaks(t, e)
	msgs := bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)
	if len(msgs) != 3 {
		t.Fatalf("%d exposures stored, want 3", len(msgs))
	}
	tok := newToken(t, e, "oncall", tokens.Replay)
	since := gh.CreatedAt.Add(-time.Hour)
	for _, c := range []struct {
		name      string
		req       map[string]any
		want      []string
		truncated bool
	}{
		{"all", map[string]any{}, []string{gh.ID, logs.ID, loki.ID}, false},
		{"provider google", map[string]any{"provider": "google"}, []string{logs.ID}, false},
		{"provider anthropic", map[string]any{"provider": "anthropic"}, []string{}, false},
		{"source github", map[string]any{"source": "github"}, []string{gh.ID}, false},
		{"source loki", map[string]any{"source": "loki"}, []string{loki.ID}, false},
		{"source jira", map[string]any{"source": "jira"}, []string{}, false},
		{"environment prod", map[string]any{"environment": "prod"}, []string{logs.ID}, false},
		{"environment unknown", map[string]any{"environment": "unknown"}, []string{gh.ID}, false},
		{"environment dev", map[string]any{"environment": "dev"}, []string{}, false},
		{"source github, environment prod", map[string]any{"source": "github", "environment": "prod"}, []string{}, false},
		// until is inclusive: the first exposure's stored time keeps it and
		// stops before the second.
		{"until the first", map[string]any{"until": msgs[0].Time}, []string{gh.ID}, false},
		{"until the second", map[string]any{"until": msgs[1].Time}, []string{gh.ID, logs.ID}, false},
		{"limit 1", map[string]any{"limit": 1}, []string{gh.ID}, true},
		{"limit 2", map[string]any{"limit": 2}, []string{gh.ID, logs.ID}, true},
		{"limit 3", map[string]any{"limit": 3}, []string{gh.ID, logs.ID, loki.ID}, false},
		{"limit 1 of staging", map[string]any{"limit": 1, "environment": "staging"}, []string{loki.ID}, false},
	} {
		c.req["since"], c.req["dry_run"] = since, true
		code, res, body := replayAPI(t, e, tok, c.req)
		got := []string{}
		for _, it := range res.Items {
			got = append(got, it.Incident)
		}
		if code != http.StatusOK || !slices.Equal(got, c.want) || res.Selected != len(c.want) || res.Truncated != c.truncated {
			t.Errorf("%s: %d selected %v truncated %v, want %v truncated %v (%s)", c.name, code, got, res.Truncated, c.want, c.truncated, tail(body, 300))
		}
	}
	first := msgs[0].Sequence
	for _, c := range []struct {
		name string
		req  map[string]any
		code int
		want string
	}{
		{"a range of 100001 messages", map[string]any{"seq": first, "seq_end": first + 100000},
			http.StatusBadRequest, "bad replay request: a sequence range spans at most 100000 messages"},
		{"a range to the last sequence there can be", map[string]any{"seq": uint64(1<<64 - 1)},
			http.StatusOK, `"selected":0`},
		{"a filter that is not a word", map[string]any{"since": since, "source": "github.*"},
			http.StatusBadRequest, "bad replay request: provider and source filters are single words"},
	} {
		c.req["dry_run"] = true
		code, _, body := replayAPI(t, e, tok, c.req)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, tail(body, 300), c.code, c.want)
		}
	}
}
