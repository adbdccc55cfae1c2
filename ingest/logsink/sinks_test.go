package logsink_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

var bearer = []string{"Authorization", "Bearer " + token}

func hdr(extra ...string) []string { return append(append([]string{}, bearer...), extra...) }

// assertClean checks that no text the harness saw carries the key.
func (h *harness) assertClean(keys ...string) {
	h.t.Helper()
	texts := append([]string{h.logs.String()}, h.texts...)
	texts = append(texts, h.streamTexts()...)
	for _, k := range keys {
		providertest.AssertNoSecret(h.t, body(k), texts...)
	}
}

func TestLogsNDJSON(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	ndjson := fmt.Sprintf(`{"ts":"2026-01-27T10:00:00Z","level":"info","message":"GET /healthz 200","service":"payments"}
{"ts":"2026-01-27T10:00:01Z","level":"error","msg":"upstream said: invalid x-api-key %s","service":"payments","request_id":"r-1","kubernetes":{"namespace_name":"payments-prod","pod_name":"payments-7d9f"}}
{"ts":"2026-01-27T10:00:02Z","level":"info","log":"done","service":"payments"}
`, key)
	r := h.post("/v1/ingest/logs?team=billing", []byte(ndjson), hdr("Content-Type", "application/x-ndjson")...)
	if r.code != http.StatusAccepted {
		t.Fatalf("answer %d %s", r.code, r.body)
	}
	m := r.json(t)
	if m["entries"] != float64(3) || m["findings"] != float64(1) || len(m["exposure_ids"].([]any)) != 1 {
		t.Fatalf("answer %v", m)
	}
	es := h.exposures()
	if len(es) != 1 {
		t.Fatalf("%d exposures", len(es))
	}
	e := es[0]
	if e.Source.Kind != exposure.SourceLogs || e.Secret.Provider != "anthropic" || e.Secret.Type != "anthropic_api_key" ||
		e.Count != 1 || e.Environment != exposure.EnvProd || e.ID != m["exposure_ids"].([]any)[0] {
		t.Fatalf("exposure %+v", e)
	}
	if h.open(e) != key || e.Secret.Fingerprint != h.keyring.Fingerprint(secretOf(key)) {
		t.Fatal("the sealed secret is not the key that was logged")
	}
	l := e.Location.Labels
	if l["service"] != "payments" || l["team"] != "billing" || l["request_id"] != "r-1" || l["kubernetes.namespace_name"] != "payments-prod" || l["level"] != "error" {
		t.Fatalf("labels %v", l)
	}
	if _, ok := l["msg"]; ok {
		t.Fatal("the message became a label")
	}
	if e.Location.Stream != `{kubernetes.namespace_name="payments-prod",kubernetes.pod_name="payments-7d9f",service="payments",team="billing"}` {
		t.Fatalf("stream %s", e.Location.Stream)
	}
	if !e.ObservedAt.Equal(time.Date(2026, 1, 27, 10, 0, 1, 0, time.UTC)) {
		t.Fatalf("observed_at %v", e.ObservedAt)
	}
	if !strings.HasPrefix(e.Secret.Redacted, "sk-ant-api03-…") {
		t.Fatalf("hint %q", e.Secret.Redacted)
	}
	h.assertClean(key)
}

func TestLogsTextAndArrayForms(t *testing.T) {
	h := newHarness(t, time.Minute)
	k1, k2 := openAIKey(), anthropicKey()
	r := h.post("/v1/ingest/logs?service=checkout&environment=staging", []byte("boot ok\r\nexport OPENAI_API_KEY="+k1+"\n\n"),
		hdr("Content-Type", "text/plain")...)
	if r.code != http.StatusAccepted {
		t.Fatalf("text: %d %s", r.code, r.body)
	}
	// Fluent Bit's `format json` sends an array of records.
	arr := fmt.Sprintf(`[{"log":"a"},{"log":"key=%s","app":"api-dev"}]`, k2)
	if r := h.post("/v1/ingest/logs", []byte(arr), hdr("Content-Type", "application/json")...); r.code != http.StatusAccepted {
		t.Fatalf("array: %d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 2 {
		t.Fatalf("%d exposures", len(es))
	}
	if es[0].Secret.Provider != "openai" || es[0].Environment != exposure.EnvStaging || es[0].Location.Labels["service"] != "checkout" {
		t.Fatalf("text exposure %+v", es[0])
	}
	if es[1].Secret.Provider != "anthropic" || es[1].Environment != exposure.EnvDev || es[1].Location.Stream != `{app="api-dev"}` {
		t.Fatalf("array exposure %+v", es[1])
	}
	h.assertClean(k1, k2)
}

// A key in any field, not only the message, is found, and labels never
// carry it.
func TestLogsSecretInLabelIsFoundAndRedacted(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := openAIKey()
	line := fmt.Sprintf(`{"msg":"call failed","authorization":"Bearer %s","service":"svc"}`, key)
	if r := h.post("/v1/ingest/logs", []byte(line), bearer...); r.code != http.StatusAccepted {
		t.Fatalf("%d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 1 || es[0].Location.Labels["authorization"] != "Bearer [REDACTED]" {
		t.Fatalf("exposures %+v", es)
	}
	// A key in a query-string label is found too.
	k2 := anthropicKey()
	if r := h.post("/v1/ingest/logs?note="+k2, []byte("nothing here"), bearer...); r.code != http.StatusAccepted {
		t.Fatalf("%d %s", r.code, r.body)
	}
	es = h.exposures()
	if len(es) != 2 || es[1].Secret.Provider != "anthropic" || es[1].Location.Labels["note"] != "[REDACTED]" ||
		strings.Contains(es[1].Location.Stream, body(k2)) {
		t.Fatalf("exposures %+v", es[1])
	}
	h.assertClean(key, k2)
}

func TestLogsAuth(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	line := []byte(`{"msg":"` + key + `"}`)
	for _, c := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"missing", nil, http.StatusUnauthorized},
		{"wrong scheme", []string{"Authorization", "Splunk " + token}, http.StatusUnauthorized},
		{"empty bearer", []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"unknown token", []string{"Authorization", "Bearer not-the-token"}, http.StatusForbidden},
		{"bad basic", []string{"Authorization", "Basic !!!"}, http.StatusUnauthorized},
	} {
		r := h.post("/v1/ingest/logs", line, c.headers...)
		if r.code != c.code || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s", c.name, r.code, r.body)
		}
		if c.code == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures published from unauthenticated requests", n)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("fluent-bit:"+token))
	if r := h.post("/v1/ingest/logs", line, "Authorization", basic); r.code != http.StatusAccepted {
		t.Fatalf("basic auth with the token as password: %d %s", r.code, r.body)
	}
	if r := h.post("/v1/ingest/logs", line, "Authorization", "bearer "+token); r.code != http.StatusAccepted {
		t.Fatalf("lower-case scheme: %d %s", r.code, r.body)
	}
	h.assertClean(key)
}

// TestSinkTokensComparedWhole: every sink accepts its own token under each
// of its schemes and refuses one of the same length that differs in one
// byte, a prefix of it and a longer value that starts with it (403 in each
// protocol's shape), and publishes nothing for them. Timing is not tested:
// the tokens are compared as SHA-256 digests (secret.Value.Matches), so a
// length never shows.
func TestSinkTokensComparedWhole(t *testing.T) {
	h := newHarness(t, time.Minute)
	basic := func(pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("fluent-bit:"+pass))
	}
	routes := []struct {
		path, scheme, token, ctype string
		body                       string
		ok                         int
	}{
		{"/v1/ingest/logs", "Bearer ", token, "text/plain", "nothing secret here", http.StatusAccepted},
		{"/services/collector/event", "Splunk ", hecToken, "application/json", `{"event":"nothing secret here"}`, http.StatusOK},
		{"/loki/api/v1/push", "Bearer ", token, "application/json", `{"streams":[{"stream":{"app":"a"},"values":[["1","nothing secret here"]]}]}`, http.StatusNoContent},
	}
	for _, rt := range routes {
		tok := rt.token
		for _, c := range []struct {
			name, auth string
			want       int
		}{
			{"the token", rt.scheme + tok, rt.ok},
			{"the token as the Basic password", basic(tok), rt.ok},
			{"same length, last byte differs", rt.scheme + tok[:len(tok)-1] + "x", http.StatusForbidden},
			{"same length, as the Basic password", basic("x" + tok[1:]), http.StatusForbidden},
			{"a prefix", rt.scheme + tok[:len(tok)-1], http.StatusForbidden},
			{"longer", rt.scheme + tok + "x", http.StatusForbidden},
			{"longer, as the Basic password", basic(tok + "x"), http.StatusForbidden},
		} {
			before := len(h.exposures())
			r := h.post(rt.path, []byte(rt.body), "Authorization", c.auth, "Content-Type", rt.ctype)
			if r.code != c.want {
				t.Errorf("%s, %s: %d %s, want %d", rt.path, c.name, r.code, r.body, c.want)
			}
			if c.want == http.StatusForbidden && len(h.exposures()) != before {
				t.Errorf("%s, %s: published", rt.path, c.name)
			}
		}
	}
}

func TestLogsMalformedPublishesNothing(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	good := `{"msg":"` + key + `"}`
	for _, c := range []struct {
		name, body, ctype, want string
	}{
		{"broken third entry", good + "\n{\"msg\":\"ok\"}\n{\"msg\": \"unterminated\n", "application/x-ndjson", "entry 2"},
		{"a number entry", good + "\n42\n", "application/x-ndjson", "entry 1"},
		{"array of strings", `[` + good + `,"x"]`, "application/json", "element 1"},
		{"empty", "  \n ", "application/x-ndjson", "no data"},
	} {
		r := h.post("/v1/ingest/logs", []byte(c.body), hdr("Content-Type", c.ctype)...)
		msg, _ := r.json(t)["error"].(string)
		if r.code != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 naming %q", c.name, r.code, msg, c.want)
		}
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures published from rejected requests", n)
	}
	h.assertClean(key)
}

func TestLogsGzipAndLimits(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	r := h.post("/v1/ingest/logs", gz([]byte(`{"msg":"`+key+`"}`)), hdr("Content-Encoding", "gzip", "Content-Type", "application/x-ndjson")...)
	if r.code != http.StatusAccepted || len(h.exposures()) != 1 {
		t.Fatalf("gzip: %d %s", r.code, r.body)
	}
	if r := h.post("/v1/ingest/logs", []byte("not gzip at all"), hdr("Content-Encoding", "gzip")...); r.code != http.StatusBadRequest {
		t.Fatalf("corrupt gzip: %d %s", r.code, r.body)
	}
	if r := h.post("/v1/ingest/logs", []byte("x"), hdr("Content-Encoding", "br")...); r.code != http.StatusBadRequest {
		t.Fatalf("unknown encoding: %d %s", r.code, r.body)
	}
	big := []byte(strings.Repeat("a log line without secrets\n", 12000)) // > 256 KiB
	if r := h.post("/v1/ingest/logs", big, bearer...); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d %s", r.code, r.body)
	}
	// A small gzip body that inflates past the limit (a gzip bomb).
	if r := h.post("/v1/ingest/logs", gz(big), hdr("Content-Encoding", "gzip")...); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("gzip bomb: %d %s", r.code, r.body)
	}
	h.assertClean(key)
}

// TestLogsFloodDedup: thousands of sightings of one key in one stream make
// one exposure, with the count; another stream gets its own; at the end of
// the window one more exposure carries the folded count.
func TestLogsFloodDedup(t *testing.T) {
	h := newHarness(t, 0)
	clk := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	h.pipe.Window = logsink.NewWindow(time.Minute, 0).WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clk })
	key := openAIKey()
	var lines strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&lines, `{"msg":"retrying with key %s attempt %d","service":"worker","request_id":"r%d"}`+"\n", key, i, i)
	}
	folded := 0
	for i := 0; i < 20; i++ {
		r := h.post("/v1/ingest/logs", []byte(lines.String()), bearer...)
		if r.code != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, r.code, r.body)
		}
		folded += int(r.json(t)["folded"].(float64))
	}
	if r := h.post("/v1/ingest/logs?service=other", []byte("key "+key), bearer...); r.code != http.StatusAccepted {
		t.Fatalf("%d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 2 {
		t.Fatalf("%d exposures for 4001 sightings in 2 streams, want 2", len(es))
	}
	if es[0].Count != 200 || es[0].Location.Stream != `{service="worker"}` || es[1].Count != 1 || es[1].Location.Stream != `{service="other"}` {
		t.Fatalf("exposures: %d %s / %d %s", es[0].Count, es[0].Location.Stream, es[1].Count, es[1].Location.Stream)
	}
	if folded != 19*200 {
		t.Fatalf("folded %d", folded)
	}
	mu.Lock()
	clk = clk.Add(time.Minute)
	mu.Unlock()
	if err := h.pipe.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	es = h.exposures()
	if len(es) != 3 || es[2].Count != 19*200 || es[2].Secret.Fingerprint != es[0].Secret.Fingerprint || es[2].ID == es[0].ID {
		t.Fatalf("after the window: %d exposures, last %+v", len(es), es[len(es)-1])
	}
	if h.open(es[2]) != key {
		t.Fatal("tally exposure does not open to the key")
	}
	h.assertClean(key)
}

func TestUnavailableAnswers503ThenRetrySucceeds(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	h.pub.setDown(true)
	r := h.post("/v1/ingest/logs", []byte("k="+key), bearer...)
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("logs: %d %s", r.code, r.body)
	}
	r = h.post("/services/collector/event", []byte(`{"event":"k=`+key+`"}`), "Authorization", "Splunk "+hecToken)
	if r.code != http.StatusServiceUnavailable || r.json(t)["code"] != float64(9) || r.json(t)["text"] != "Server is busy" {
		t.Fatalf("hec: %d %s", r.code, r.body)
	}
	push := `{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","k=` + key + `"]]}]}`
	if r := h.post("/loki/api/v1/push", []byte(push), hdr("Content-Type", "application/json")...); r.code != http.StatusServiceUnavailable {
		t.Fatalf("loki: %d %s", r.code, r.body)
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures while the bus was down", n)
	}
	h.pub.setDown(false)
	if r := h.post("/v1/ingest/logs", []byte("k="+key), bearer...); r.code != http.StatusAccepted || len(h.exposures()) != 1 {
		t.Fatalf("retry: %d %s", r.code, r.body)
	}
	h.assertClean(key)
}

func TestConcurrentRequestsOneExposure(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/ingest/logs?app=x", strings.NewReader("k="+key))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Errorf("%v %v", err, resp)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := len(h.exposures()); n != 1 {
		t.Fatalf("%d exposures for one key in one stream", n)
	}
}

func TestHEC(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := openAIKey()
	auth := []string{"Authorization", "Splunk " + hecToken}
	// Two events concatenated without a separator, as HEC allows.
	events := fmt.Sprintf(`{"time":1764237600.5,"host":"web-1","source":"/var/log/app.log","sourcetype":"app:json","event":"ok"}`+
		`{"time":"1764237601","host":"web-1","source":"/var/log/app.log","sourcetype":"app:json","fields":{"env":"prod","tags":["a","b"]},"event":{"message":"config loaded","openai_key":"%s"}}`, key)
	r := h.post("/services/collector/event", []byte(events), auth...)
	if r.code != http.StatusOK || string(r.body) != "{\"code\":0,\"text\":\"Success\"}\n" {
		t.Fatalf("event: %d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 1 {
		t.Fatalf("%d exposures", len(es))
	}
	e := es[0]
	if e.Source.Kind != exposure.SourceSplunkHEC || e.Secret.Provider != "openai" || e.Environment != exposure.EnvProd ||
		e.Location.Labels["host"] != "web-1" || e.Location.Labels["tags"] != "a,b" || e.Location.Labels["openai_key"] != "[REDACTED]" ||
		e.Location.Stream != `{env="prod",host="web-1",source="/var/log/app.log",sourcetype="app:json"}` {
		t.Fatalf("exposure %+v", e)
	}
	if !e.ObservedAt.Equal(time.Unix(1764237601, 0)) {
		t.Fatalf("observed_at %v", e.ObservedAt)
	}
	// /raw: lines, with metadata from the query string; gzip.
	k2 := anthropicKey()
	r = h.post("/services/collector/raw?host=db-2&sourcetype=syslog&channel=FE0ECFAD-13D5-401B-847D-77833BD77131",
		gz([]byte("line one\nANTHROPIC_API_KEY="+k2+"\n")), append(auth, "Content-Encoding", "gzip")...)
	if r.code != http.StatusOK {
		t.Fatalf("raw: %d %s", r.code, r.body)
	}
	es = h.exposures()
	if len(es) != 2 || es[1].Location.Labels["host"] != "db-2" || es[1].Source.Ref != "channel:FE0ECFAD-13D5-401B-847D-77833BD77131" {
		t.Fatalf("raw exposure %+v", es[len(es)-1])
	}
	// Health, as Vector's health check asks for it.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/services/collector/health/1.0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %v %v", err, resp)
	}
	resp.Body.Close()
	h.assertClean(key, k2)
}

func TestHECErrorsInHECShape(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := openAIKey()
	ok := `{"event":"` + key + `"}`
	for _, c := range []struct {
		name    string
		headers []string
		body    string
		status  int
		code    float64
		text    string
		invalid float64 // -1: absent
	}{
		{"no token", nil, ok, 401, 2, "Token is required", -1},
		{"not Splunk scheme", []string{"Authorization", "Bearer " + hecToken}, ok, 401, 3, "Invalid authorization", -1},
		{"unknown token", []string{"Authorization", "Splunk 00000000-0000-0000-0000-000000000000"}, ok, 403, 4, "Invalid token", -1},
		{"no data", []string{"Authorization", "Splunk " + hecToken}, "", 400, 5, "No data", -1},
		{"bad json", []string{"Authorization", "Splunk " + hecToken}, ok + `{"event": "x"`, 400, 6, "Invalid data format", 1},
		{"not an object", []string{"Authorization", "Splunk " + hecToken}, ok + ` "text"`, 400, 6, "Invalid data format", 1},
		{"event missing", []string{"Authorization", "Splunk " + hecToken}, ok + `{"host":"a"}`, 400, 12, "Event field is required", 1},
		{"event blank", []string{"Authorization", "Splunk " + hecToken}, ok + `{"event":""}`, 400, 13, "Event field cannot be blank", 1},
		{"host not a string", []string{"Authorization", "Splunk " + hecToken}, `{"event":"x","host":7}`, 400, 6, "Invalid data format", 0},
		// The error does not name the field: its name is a key.
		{"field named by a key", []string{"Authorization", "Splunk " + hecToken}, `{"event":"x","fields":{"` + key + `":{"a":1}}}`, 400, 6, "Invalid data format", 0},
	} {
		r := h.post("/services/collector/event", []byte(c.body), c.headers...)
		m := r.json(t)
		inv, has := m["invalid-event-number"]
		if r.code != c.status || m["code"] != c.code || m["text"] != c.text || (c.invalid < 0) == has || (has && inv != c.invalid) {
			t.Errorf("%s: %d %s", c.name, r.code, r.body)
		}
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures published from rejected requests", n)
	}
	h.assertClean(key)
}

func TestLoki(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	var values []string
	for i := 0; i < 1000; i++ { // a flood inside one push
		values = append(values, fmt.Sprintf(`["%d","level=error msg=\"auth failed\" key=%s n=%d"]`, 1764237600000000000+i, key, i))
	}
	push := `{"streams":[` +
		`{"stream":{"app":"payments","namespace":"payments-prod","job":"payments/api"},"values":[` + strings.Join(values, ",") + `]},` +
		`{"stream":{"app":"other"},"values":[["1764237600000000000","all good",{"trace_id":"abc"}]]}]}`
	r := h.post("/loki/api/v1/push", gz([]byte(push)), hdr("Content-Type", "application/json", "Content-Encoding", "gzip", "X-Scope-OrgID", "team-a")...)
	if r.code != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 1 {
		t.Fatalf("%d exposures", len(es))
	}
	e := es[0]
	if e.Source.Kind != exposure.SourceLoki || e.Source.Ref != "tenant:team-a" || e.Secret.Provider != "anthropic" || e.Count != 1000 ||
		e.Environment != exposure.EnvProd || e.Location.Stream != `{app="payments",job="payments/api",namespace="payments-prod"}` ||
		e.Location.Display != `loki {app="payments",job="payments/api",namespace="payments-prod"}` {
		t.Fatalf("exposure %+v", e)
	}
	if !e.ObservedAt.Equal(time.Unix(0, 1764237600000000000)) || h.open(e) != key {
		t.Fatalf("observed %v", e.ObservedAt)
	}
	h.assertClean(key)
}

func TestLokiErrors(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	good := `{"streams":[{"stream":{"app":"a"},"values":[["1","` + key + `"]]}]}`
	js := hdr("Content-Type", "application/json")
	for _, c := range []struct {
		name    string
		headers []string
		body    string
		status  int
		want    string
	}{
		{"no token", []string{"Content-Type", "application/json"}, good, 401, "unauthorized"},
		{"unknown token", []string{"Authorization", "Bearer nope"}, good, 403, "forbidden"},
		{"no labels", js, `{"streams":[{"stream":{},"values":[["1","x"]]}]}`, 400, "streams[0]: at least one label pair"},
		{"bad timestamp", js, `{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["yesterday","y"]]}]}`, 400, "streams[0].values[1][0]"},
		{"line not a string", js, `{"streams":[{"stream":{"a":"b"},"values":[["1",2]]}]}`, 400, "values[0][1]: the log line must be a string"},
		{"old format", js, `{"streams":[{"labels":"{a=\"b\"}","entries":[]}]}`, 400, "unknown field"},
		{"truncated", js, good[:40], 400, "malformed JSON"},
	} {
		r := h.post("/loki/api/v1/push", []byte(c.body), c.headers...)
		if r.code != c.status || !strings.Contains(string(r.body), c.want) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q", c.name, r.code, r.body)
		}
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures published from rejected requests", n)
	}
	h.assertClean(key)
}

func TestScanEndpoint(t *testing.T) {
	h := newHarness(t, time.Minute)
	key, k2 := openAIKey(), anthropicKey()
	req := logsink.ScanRequest{Labels: map[string]string{"repo": "acme/api", "branch": "main", "commit": "abc123"},
		Findings: []logsink.ScanFinding{{Secret: key, File: "config/prod.env", Line: 12, Column: 16}, {Secret: k2, File: "README.md", Line: 3, Column: 1}}}
	b, _ := json.Marshal(req)
	r := h.post("/v1/ingest/scan", b, bearer...)
	if r.code != http.StatusAccepted {
		t.Fatalf("%d %s", r.code, r.body)
	}
	es := h.exposures()
	if len(es) != 2 {
		t.Fatalf("%d exposures", len(es))
	}
	e := es[0]
	if e.Source.Kind != exposure.SourceScan || e.Source.Ref != "acme/api" || e.Location.Repo != "acme/api" || e.Location.Path != "config/prod.env" ||
		e.Location.Line != 12 || e.Location.Branch != "main" || e.Location.Commit != "abc123" || e.Environment != exposure.EnvProd ||
		e.Location.Display != "acme/api: config/prod.env:12" || h.open(e) != key {
		t.Fatalf("exposure %+v", e)
	}
	// Not a recognised key: rejected whole, without echoing it.
	bad := logsink.ScanRequest{Findings: []logsink.ScanFinding{{Secret: key, File: "a"}, {Secret: "hunter2-is-my-password", File: "b"}}}
	b, _ = json.Marshal(bad)
	r = h.post("/v1/ingest/scan", b, bearer...)
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "findings[1].secret") || strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := h.post("/v1/ingest/scan", b, "Authorization", "Bearer wrong"); r.code != http.StatusForbidden {
		t.Fatalf("bad token: %d", r.code)
	}
	if n := len(h.exposures()); n != 2 {
		t.Fatalf("%d exposures", n)
	}
	h.assertClean(key, k2)
}

// TestHECIndexerAcknowledgement: on a data channel every success carries the
// channel's next ackId, and /services/collector/ack answers true for the ids
// issued (each was stored durably before its 200) and false for others.
func TestHECIndexerAcknowledgement(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	auth := []string{"Authorization", "Splunk " + hecToken}
	chA, chB := "FE0ECFAD-13D5-401B-847D-77833BD77131", "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"
	post := func(path, body string, headers ...string) response {
		return h.post(path, []byte(body), append(append([]string{}, auth...), headers...)...)
	}
	for i, want := range []float64{0, 1} {
		r := post("/services/collector/event", fmt.Sprintf(`{"event":"request %d used %s"}`, i, key), "X-Splunk-Request-Channel", chA)
		if m := r.json(t); r.code != http.StatusOK || m["code"] != 0.0 || m["ackId"] != want {
			t.Fatalf("event %d: %d %s", i, r.code, r.body)
		}
	}
	if r := post("/services/collector/raw?channel="+chB, "a raw line"); r.code != http.StatusOK || r.json(t)["ackId"] != 0.0 {
		t.Fatalf("raw on channel B: %d %s", r.code, r.body)
	}
	if r := post("/services/collector/event", `{"event":"no channel"}`); r.code != http.StatusOK || strings.Contains(string(r.body), "ackId") {
		t.Fatalf("without a channel: %d %s", r.code, r.body)
	}
	r := post("/services/collector/ack", `{"acks":[0,1,2,7]}`, "X-Splunk-Request-Channel", chA)
	if r.code != http.StatusOK || string(r.body) != `{"acks":{"0":true,"1":true,"2":false,"7":false}}`+"\n" {
		t.Fatalf("ack A: %d %s", r.code, r.body)
	}
	if r := post("/services/collector/ack?channel="+chB, `{"acks":[0,1]}`); string(r.body) != `{"acks":{"0":true,"1":false}}`+"\n" {
		t.Fatalf("ack B: %d %s", r.code, r.body)
	}
	if r := post("/services/collector/ack", `{"acks":[0]}`, "X-Splunk-Request-Channel", "never-used"); string(r.body) != `{"acks":{"0":false}}`+"\n" {
		t.Fatalf("unknown channel: %d %s", r.code, r.body)
	}
	for _, c := range []struct {
		name    string
		headers []string
		body    string
		status  int
		code    float64
		want    string
	}{
		{"no token", []string{"X-Splunk-Request-Channel", chA}, `{"acks":[0]}`, 401, 2, "Token is required"},
		{"no channel", auth, `{"acks":[0]}`, 400, 10, "Data channel is missing"},
		{"bad channel", append([]string{"X-Splunk-Request-Channel", "a b"}, auth...), `{"acks":[0]}`, 400, 11, "Invalid data channel"},
		{"no ids", append([]string{"X-Splunk-Request-Channel", chA}, auth...), `{"acks":[]}`, 400, 6, `"acks" must list at least one id`},
		{"not ids", append([]string{"X-Splunk-Request-Channel", chA}, auth...), `{"acks":["x"]}`, 400, 6, `want {"acks":[0,1,…]}`},
	} {
		r := h.post("/services/collector/ack", []byte(c.body), c.headers...)
		m := r.json(t)
		if r.code != c.status || m["code"] != c.code || !strings.Contains(fmt.Sprint(m["text"], m["detail"]), c.want) {
			t.Errorf("%s: %d %s", c.name, r.code, r.body)
		}
	}
	if es := h.exposures(); len(es) != 1 || es[0].Source.Ref != "channel:"+chA {
		t.Fatalf("exposures %+v", es)
	}
	h.assertClean(key)
}
