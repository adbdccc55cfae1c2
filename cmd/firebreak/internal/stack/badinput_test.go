package stack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
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

// A key pasted where an id, a query value, a parameter name or a path
// segment goes is not echoed: not in the answer, not in Firebreak's log, not
// in the control audit chain. The answer says what is wrong without it; a
// short word or one of Firebreak's own ids is still named (web.Quote).
func TestControlErrorsDoNotEchoPastedKeys(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	key := openaiemu.NewKeyValue("sk-proj-")                // 164 bytes, an OpenAI key's shape
	short := "sk_live_" + strings.Repeat("qWeRtYuIoPaS", 2) // 32 bytes, a Stripe live key's shape
	n := func(what string) string { return fmt.Sprintf("(a %d-byte %s, not shown)", len(key), what) }
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v1/incidents/" + key, "", 404, "no incident " + n("id")},
		{"GET", "/v1/incidents/" + short, "", 404, "no incident (a 32-byte id, not shown)"},
		{"GET", "/v1/incidents/inc_nosuch", "", 404, `no incident "inc_nosuch"`},
		{"POST", "/v1/incidents/" + key + "/replay", "", 404, "no incident " + n("id")},
		{"POST", "/v1/replay", `{"incident":"` + key + `"}`, 404, "no incident " + n("id")},
		{"POST", "/v1/replay", `{"since":"` + key + `"}`, 400,
			"invalid JSON body: malformed JSON: a time must be RFC 3339 (2006-01-02T15:04:05Z), got " + n("value")},
		{"POST", "/v1/incidents/" + key + "/approve", "", 404, "no incident " + n("id")},
		{"POST", "/v1/incidents/inc_nosuch/deny", `{"approval":"` + key + `"}`, 404, "no such approval: " + n("id")},
		{"DELETE", "/v1/tokens/" + key, "", 404, "no such token: " + n("id")},
		{"DELETE", "/v1/tokens/tok_nosuch", "", 404, `no such token: "tok_nosuch" is not a token id (tok_ and 12 hex digits)`},
		{"GET", "/v1/audit?incident=" + key, "", 400, "incident: " + n("value") + " is not an incident id"},
		{"GET", "/v1/audit/verify?incident=" + key, "", 400, "incident: " + n("value") + " is not an incident id"},
		{"GET", "/v1/audit/verify?incident=inc_nosuch", "", 404, `no incident "inc_nosuch"`},
		{"GET", "/v1/audit?since=" + key, "", 400, "since: " + n("value") + " is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time"},
		{"GET", "/v1/incidents?since=" + key, "", 400, "since: " + n("value") + " is neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time"},
		{"GET", "/v1/incidents?limit=" + key, "", 400, "limit must be a positive integer, got " + n("value")},
		{"GET", "/v1/incidents?" + key + "=open", "", 400,
			"unknown query parameter " + n("name") + "; GET /v1/incidents takes state, provider, source, environment, since, limit"},
		{"POST", "/v1/incidents/inc_nosuch/replay?dry_run=" + key, "", 400, "dry_run must be true or false, got " + n("value")},
		{"GET", "/v1/incidents/" + key + "/timeline", "", 404, "no route for GET /v1/incidents/" + n("segment") + "/timeline"},
		{"PUT", "/v1/incidents/" + key, "", 405, "PUT is not allowed on /v1/incidents/" + n("segment") + "; use GET, HEAD"},
		{"GET", "/readyz?exclude=" + key, "", 400, "exclude=" + n("name") + " names no readiness check; known: "},
	} {
		code, _, msg := raw(t, e, c.method, c.path, admin, c.body)
		if strings.Contains(msg, key[8:40]) || strings.Contains(msg, short[8:]) {
			t.Errorf("%s %.30s…: the answer echoes the key", c.method, c.path)
		}
		if code != c.code || !strings.HasPrefix(msg, c.want) || !strings.HasSuffix(c.want, ": ") && msg != c.want {
			t.Errorf("%s %.30s…:\n got  %d %s\n want %d %s", c.method, c.path, code, tail(msg, 200), c.code, c.want)
		}
	}
	// The incident pages say the same in HTML.
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/ui/incidents/" + key, "no incident " + n("id"), 404},
		{"/ui/incidents?state=" + key, "No incidents in state " + n("value"), 200},
	} {
		req, err := http.NewRequest("GET", e.URL+c.path, nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(page), c.want) || strings.Contains(string(page), key[8:40]) {
			t.Errorf("GET %.30s…: %d %s, want %d with %s", c.path, resp.StatusCode, tail(string(page), 300), c.code, c.want)
		}
	}
	// Nor is the key in the log or the control audit chain.
	if strings.Contains(e.logs.String(), key[8:40]) || strings.Contains(e.logs.String(), short[8:]) {
		t.Error("the log holds the key")
	}
	recs := auditRecords(t, e, exposure.ControlAuditID)
	b, _ := json.Marshal(recs)
	if strings.Contains(string(b), key[8:40]) || strings.Contains(string(b), short[8:]) {
		t.Error("the control audit chain holds the key")
	}
	var described bool
	for _, r := range recs {
		described = described || r.Data["target"] == n("id") && r.Data["path"] == "/v1/incidents/"+n("segment")
	}
	if !described {
		t.Errorf("no control record describes GET /v1/incidents/<key>: %s", tail(string(b), 600))
	}
}

// The control API's query strings: a single-valued parameter given twice is
// a 400 naming it (which one would count is a guess), an unknown parameter
// is a 400 naming it and the route's parameters (a typo such as ?stat=open
// would otherwise list everything), and so is a malformed query string or a
// dry_run that is neither true nor false. Nothing is listed or run.
func TestControlQueryParameters(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	const list = "state, provider, source, environment, since, limit"
	for _, c := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/v1/incidents?state=open&state=failed", 400, `query parameter "state" given 2 times; give it once`},
		{"GET", "/v1/incidents?since=1h&since=2d", 400, `query parameter "since" given 2 times; give it once`},
		{"GET", "/v1/incidents?limit=1&limit=1&limit=1", 400, `query parameter "limit" given 3 times; give it once`},
		{"GET", "/v1/incidents?stat=open", 400, `unknown query parameter "stat"; GET /v1/incidents takes ` + list},
		{"GET", "/v1/incidents?state=%zz", 400, "malformed query string: use name=value pairs joined by & (with %XX escapes)"},
		{"GET", "/v1/incidents?state=open;limit=1", 400, "malformed query string: use name=value pairs joined by & (with %XX escapes)"},
		{"GET", "/v1/incidents/inc_nosuch?verbose=1", 400, `unknown query parameter "verbose"; GET /v1/incidents/{id} takes none`},
		{"GET", "/v1/audit?since=1h&since=2d", 400, `query parameter "since" given 2 times; give it once`},
		{"GET", "/v1/audit?incidnet=inc_x", 400, `unknown query parameter "incidnet"; GET /v1/audit takes incident, since, until`},
		{"GET", "/v1/audit/verify?incident=inc_a&incident=inc_b", 400, `query parameter "incident" given 2 times; give it once`},
		{"POST", "/v1/incidents/inc_nosuch/replay?dry_run=true&dry_run=false", 400, `query parameter "dry_run" given 2 times; give it once`},
		{"POST", "/v1/incidents/inc_nosuch/replay?dryrun=true", 400, `unknown query parameter "dryrun"; POST /v1/incidents/{id}/replay takes dry_run`},
		{"POST", "/v1/incidents/inc_nosuch/replay?dry_run=yes", 400, `dry_run must be true or false, got "yes"`},
		{"POST", "/v1/incidents/inc_nosuch/replay?dry_run=true", 404, `no incident "inc_nosuch"`},
		{"POST", "/v1/replay?dry_run=true", 400, `unknown query parameter "dry_run"; POST /v1/replay takes none`},
		{"POST", "/v1/incidents/inc_nosuch/approve?comment=ok", 400, `unknown query parameter "comment"; POST /v1/incidents/{id}/approve takes none`},
		{"GET", "/v1/tokens?all=1", 400, `unknown query parameter "all"; GET /v1/tokens takes none`},
		{"DELETE", "/v1/tokens/tok_nosuch?force=1", 400, `unknown query parameter "force"; DELETE /v1/tokens/{id} takes none`},
		{"POST", "/v1/github/backfill?repo=acme/x", 400, `unknown query parameter "repo"; POST /v1/github/backfill takes none`},
	} {
		code, _, msg := raw(t, e, c.method, c.path, admin, "")
		if code != c.code || msg != c.want {
			t.Errorf("%s %s:\n got  %d %s\n want %d %s", c.method, c.path, code, msg, c.code, c.want)
		}
	}
	// Each parameter once, and an empty query, still work.
	for _, path := range []string{"/v1/incidents?state=contained&since=1h&limit=5", "/v1/incidents", "/v1/audit/verify?incident=control", "/v1/tokens"} {
		if code, _, msg := raw(t, e, "GET", path, admin, ""); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, msg)
		}
	}
	// The incident pages read the list's parameters by the same rule.
	req, err := http.NewRequest("GET", e.URL+"/ui/incidents?stat=open", nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `unknown query parameter &#34;stat&#34;; GET /ui/incidents takes ` + list; resp.StatusCode != 400 || !strings.Contains(string(page), want) {
		t.Errorf("GET /ui/incidents?stat=open: %d %s, want 400 with %s", resp.StatusCode, tail(string(page), 300), want)
	}
}

// The admin token (http.admin_token) is accepted whole and only whole: one of
// the same length that differs in one byte, a prefix of it and a longer
// value that starts with it are 401s, as through the incident pages' sign-in.
// Timing is not tested: the tokens are compared as SHA-256 digests
// (secret.Value.Matches), so the admin token's length never shows.
func TestAdminTokenComparedWhole(t *testing.T) {
	e := start(t, stack.Options{})
	admin := adminToken(t, e)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	flip := func(c byte) string {
		if c == 'x' {
			return "y"
		}
		return "x"
	}
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"the admin token", admin, 200},
		{"same length, last byte differs", admin[:len(admin)-1] + flip(admin[len(admin)-1]), 401},
		{"same length, first byte differs", flip(admin[0]) + admin[1:], 401},
		{"a prefix", admin[:len(admin)-1], 401},
		{"longer", admin + "x", 401},
	} {
		code, _, msg := raw(t, e, "GET", "/v1/tokens", c.token, "")
		if code != c.want || c.want == 401 && msg != "unknown token" {
			t.Errorf("%s: %d %s, want %d", c.name, code, msg, c.want)
		}
		resp, err := noRedirect.PostForm(e.URL+"/ui/login", url.Values{"token": {c.token}})
		must(t, err)
		resp.Body.Close()
		if signedIn := resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/ui/incidents"; signedIn != (c.want == 200) {
			t.Errorf("%s: the sign-in answered %d (Location %q)", c.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
