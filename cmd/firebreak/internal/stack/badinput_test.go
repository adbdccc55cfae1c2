package stack_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// raw sends body as is (nil: none) with a bearer token ("" for none) and
// returns the status, the Allow header and the decoded {"error": …}.
func raw(t *testing.T, e *env, method, path, token, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader([]byte(body)))
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Error == "" && resp.StatusCode >= 400 {
		t.Errorf("%s %.60s: %d answer is not {\"error\": …}: %.200s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header.Get("Allow"), out.Error
}

// An id longer than any of Firebreak's, in a path, a query or a body, is
// refused as unknown (404) or bad (400), and never reaches the bus: a NATS
// subject over the server's 4 KiB control line made the server close the
// connection every component shares, so one such request turned every later
// one (ingest, revocation, audit) into a 503.
func TestLongIDsDoNotBreakTheBus(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	long := strings.Repeat("a", 10<<10)
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/incidents/" + long, "", 404},
		{"POST", "/v1/incidents/" + long + "/replay", "", 404},
		{"POST", "/v1/replay", `{"incident":"` + long + `"}`, 404},
		{"POST", "/v1/incidents/" + long + "/approve", "", 404},
		{"GET", "/v1/audit?incident=" + long, "", 400},
		{"GET", "/v1/audit/verify?incident=" + long, "", 400},
	} {
		code, _, msg := raw(t, e, c.method, c.path, admin, c.body)
		if code != c.want {
			t.Errorf("%s %.40s…: %d %.120s, want %d", c.method, c.path, code, msg, c.want)
		}
		// The bus still answers: a request that reads it succeeds.
		if code, _, msg := raw(t, e, "GET", "/v1/tokens", admin, ""); code != 200 {
			t.Fatalf("after %s %.40s…: GET /v1/tokens %d %s", c.method, c.path, code, msg)
		}
	}
}

// The control API's JSON bodies: a body that is not one JSON object of the
// route's fields is a 400 that names the problem in JSON terms, without the
// body's content (a long unknown field name may be a pasted key) or
// Firebreak's Go types; data after the object is refused, not ignored.
func TestControlJSONBodies(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	const key = "sk-proj-CANARYcanaryCANARYcanaryCANARYcanary0123"
	for _, c := range []struct {
		path, body, want string
	}{
		{"/v1/incidents/inc_x/replay", `{"` + key + `":1}`, "unknown field (a 48-byte name, not shown)"},
		{"/v1/incidents/inc_x/replay", `{"dry_run":"yes"}`, `field "dry_run" must be true or false, got string`},
		{"/v1/tokens", `{"name":"x","scopes":"read"}`, `field "scopes" must be an array, got string`},
		{"/v1/tokens", `{"name":"x","scopes":["read"]} {"name":"y"}`, "data after the JSON object"},
		{"/v1/tokens", `{"name":"x","scopes":["read"]}` + key, "data after the JSON object"},
		{"/v1/incidents/inc_x/approve", `{"comment":"ok"}]`, "data after the JSON object"},
	} {
		code, _, msg := raw(t, e, "POST", c.path, admin, c.body)
		if code != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("POST %s %.40s: %d %q, want 400 with %q", c.path, c.body, code, msg, c.want)
		}
		if strings.Contains(msg, "CANARY") || strings.Contains(msg, "Go struct") || strings.Contains(msg, "app.") {
			t.Errorf("POST %s: the error echoes the body or Go types: %q", c.path, msg)
		}
	}
	// Nothing was created by the refused bodies.
	_, body := api(t, e, "GET", "/v1/tokens", admin, nil)
	if strings.Contains(string(body), `"name":"x"`) {
		t.Fatalf("a token was created from a body with trailing data: %s", body)
	}
}

// A route called with the wrong method answers 405 with an Allow header and
// Firebreak's error shape, not a 404 that says the route does not exist.
func TestWrongMethodIs405(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	reader := newToken(t, e, "dash", tokens.Read)
	for _, c := range []struct{ method, path, allow string }{
		{"POST", "/v1/incidents", "GET, HEAD"},
		{"DELETE", "/v1/incidents/inc_x", "GET, HEAD"},
		{"GET", "/v1/replay", "POST"},
		{"GET", "/v1/incidents/inc_x/approve", "POST"},
		{"PUT", "/v1/tokens", "GET, HEAD, POST"},
		{"GET", "/v1/tokens/tok_0123456789ab", "DELETE"},
		{"DELETE", "/v1/audit", "GET, HEAD"},
		{"GET", "/v1/github/backfill", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"POST", "/readyz", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
		{"POST", "/ready", "GET, HEAD"},
		{"DELETE", "/ui/login", "GET, HEAD, POST"},
	} {
		code, allow, msg := raw(t, e, c.method, c.path, admin, "")
		if code != http.StatusMethodNotAllowed || allow != c.allow || !strings.Contains(msg, "use "+c.allow) {
			t.Errorf("%s %s: %d Allow %q %q, want 405 Allow %q", c.method, c.path, code, allow, msg, c.allow)
		}
	}
	// An unknown path is still a 404 in the same shape; routes still work.
	if code, _, msg := raw(t, e, "GET", "/v1/nosuch", admin, ""); code != 404 || !strings.Contains(msg, "no route for GET /v1/nosuch") {
		t.Errorf("unknown path: %d %q", code, msg)
	}
	if code, _, _ := raw(t, e, "GET", "/v1/incidents", reader, ""); code != 200 {
		t.Errorf("GET /v1/incidents: %d", code)
	}
}
