package logsink_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// assertNoPiece checks that no text the harness saw — every exposure on the
// stream marshalled to JSON, the stream's raw messages, the responses, the
// log — carries any 8-character run of a key beyond its public prefix: not
// even a cut-off piece of a key may be published.
func (h *harness) assertNoPiece(keys ...string) {
	h.t.Helper()
	texts := append([]string{h.logs.String()}, h.texts...)
	texts = append(texts, h.streamTexts()...)
	for _, e := range h.exposures() {
		b, err := json.Marshal(e)
		if err != nil {
			h.t.Fatal(err)
		}
		texts = append(texts, string(b), e.Location.Display, e.Location.Stream)
		for k, v := range e.Location.Labels {
			texts = append(texts, k, v)
		}
	}
	for _, k := range keys {
		providertest.AssertNoSecretRun(h.t, k, 8, texts...)
	}
}

// only returns the one exposure of the stream whose sealed secret is key,
// failing when there is none, or when an exposure seals anything but keys
// (a bogus cut of a key would send revocation to garbage).
func (h *harness) only(key string, keys ...string) *exposure.Event {
	h.t.Helper()
	var found *exposure.Event
	for _, e := range h.exposures() {
		switch got := h.open(e); {
		case got == key && found == nil:
			found = e
		case got == key:
			h.t.Errorf("a second exposure of the key (%s)", e.Location.Stream)
		default:
			ok := false
			for _, k := range keys {
				ok = ok || got == k
			}
			if !ok {
				h.t.Errorf("an exposure (%s) seals %d bytes that are none of the keys logged", e.Secret.Type, len(got))
			}
		}
	}
	if found == nil {
		h.t.Fatalf("no exposure seals the key %s", secret.Hint(secret.New(key)))
	}
	return found
}

// longLabel is a label value longer than the 256 bytes an exposure keeps,
// holding key across the cut: from byte 101 on.
func longLabel(key string) string {
	v := "https://api.example.com/v1/chat/completions?model=gpt-4o&stream=true&user=u-" + strings.Repeat("7", 16) + "&api_key="
	return v + key + "&trace=" + strings.Repeat("ab", 40)
}

// TestLabelsAreRedactedBeforeTheyAreCut: a key in a label longer than an
// exposure keeps (256 bytes), across the cut, in every format that carries
// labels: the key is sealed whole and no piece of it is published. (Parsers
// used to cut labels to 256 bytes before the detectors' findings were
// redacted from them: the cut-off front of the key no longer matched the
// whole key, and stayed.)
func TestLabelsAreRedactedBeforeTheyAreCut(t *testing.T) {
	js := hdr("Content-Type", "application/json")
	hec := []string{"Authorization", "Splunk " + hecToken}
	for _, c := range []struct {
		name string
		send func(h *harness, key string) response
		want int // answer
		// label is where the key sat: it must now say [REDACTED].
		label string
	}{
		{"loki json structured metadata", func(h *harness, key string) response {
			push := fmt.Sprintf(`{"streams":[{"stream":{"app":"gateway"},"values":[["1764237600000000000","POST /v1/chat 200",{"http_url":%q}]]}]}`, longLabel(key))
			return h.post("/loki/api/v1/push", []byte(push), js...)
		}, http.StatusNoContent, "http_url"},
		{"loki json stream label", func(h *harness, key string) response {
			cmd := "/usr/bin/python3 -m worker --queue=" + strings.Repeat("q", 90) + " --openai-key " + key + " --verbose --retries=3"
			push := fmt.Sprintf(`{"streams":[{"stream":{"app":"worker","cmdline":%q},"values":[["1764237600000000000","started"]]}]}`, cmd)
			return h.post("/loki/api/v1/push", []byte(push), js...)
		}, http.StatusNoContent, "cmdline"},
		{"loki protobuf structured metadata", func(h *harness, key string) response {
			push := lokitest.Push(lokitest.Stream{Labels: `{app="gateway"}`, Entries: []lokitest.Entry{
				{Sec: 1764237600, Line: "POST /v1/chat 200", Metadata: [][2]string{{"http_url", longLabel(key)}}}}})
			return h.post("/loki/api/v1/push", push, hdr("Content-Type", "application/x-protobuf")...)
		}, http.StatusNoContent, "http_url"},
		{"loki protobuf stream label", func(h *harness, key string) response {
			push := lokitest.Push(lokitest.Stream{Labels: `{app="gateway", url=` + jsonQuote(longLabel(key)) + `}`,
				Entries: []lokitest.Entry{{Sec: 1764237600, Line: "started"}}})
			return h.post("/loki/api/v1/push", push, hdr("Content-Type", "application/x-protobuf")...)
		}, http.StatusNoContent, "url"},
		{"hec indexed field", func(h *harness, key string) response {
			ev := fmt.Sprintf(`{"event":"POST /v1/chat 200","host":"web-1","fields":{"http_url":%q}}`, longLabel(key))
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "http_url"},
		{"hec source", func(h *harness, key string) response {
			ev := fmt.Sprintf(`{"event":"POST /v1/chat 200","host":"web-1","source":%q}`, longLabel(key))
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "source"},
		{"hec raw query label", func(h *harness, key string) response {
			return h.post("/services/collector/raw?source="+url.QueryEscape(longLabel(key)), []byte("POST /v1/chat 200\n"), hec...)
		}, http.StatusOK, "source"},
		{"logs query label", func(h *harness, key string) response {
			return h.post("/v1/ingest/logs?http_url="+url.QueryEscape(longLabel(key)), []byte(`{"msg":"POST /v1/chat 200"}`), js...)
		}, http.StatusAccepted, "http_url"},
		{"scan label", func(h *harness, key string) response {
			b, _ := json.Marshal(logsink.ScanRequest{Labels: map[string]string{"repo": "acme/api", "note": longLabel(key)},
				Findings: []logsink.ScanFinding{{Secret: key, File: "config/prod.env", Line: 3}}})
			return h.post("/v1/ingest/scan", b, bearer...)
		}, http.StatusAccepted, "note"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, time.Minute)
			key := openAIKey()
			if r := c.send(h, key); r.code != c.want {
				t.Fatalf("answer %d %s", r.code, r.body)
			}
			h.assertNoPiece(key)
			e := h.only(key)
			if v := e.Location.Labels[c.label]; !strings.Contains(v, "[REDACTED]") || len(v) > 256 {
				t.Errorf("label %s: %d bytes, redacted: %v", c.label, len(v), strings.Contains(v, "[REDACTED]"))
			}
		})
	}
	// Syslog: structured data.
	t.Run("syslog structured data", func(t *testing.T) {
		h := newHarness(t, time.Minute)
		s := startSyslog(t, h)
		key := openAIKey()
		msg := `<165>1 2026-01-27T10:00:00Z web-1 gateway 4242 ID47 [req@32473 url="` + longLabel(key) + `"] POST /v1/chat 200`
		send(t, s.Addr().String(), octet(msg))
		h.waitExposures(1)
		h.assertNoPiece(key)
		e := h.only(key)
		if v := e.Location.Labels["sd.req@32473.url"]; !strings.Contains(v, "[REDACTED]") || len(v) > 256 {
			t.Errorf("label: %d bytes, redacted: %v", len(v), strings.Contains(v, "[REDACTED]"))
		}
	})
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// awsPair returns a random AWS access key id and secret access key in the
// real formats, the secret holding '+' at byte 4 and (unless plusOnly) '/'
// at byte 21 — the bytes JSON encoders escape: .NET's System.Text.Json
// writes '+' as \u002B, PHP's json_encode writes '/' as \/ — both checked
// against the detectors. With '+' alone, the escaped key holds a bogus
// 40-character run, "u002B" and the 35 characters after the '+'.
func awsPair(t *testing.T, plusOnly bool) (id, sec string) {
	t.Helper()
	sc := detect.New()
	for range 100 {
		id = "AKIA" + randStr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
		b := []byte(randStr(alnum, 40))
		b[4] = '+'
		if !plusOnly {
			b[21] = '/'
		}
		sec = string(b)
		var types []string
		sc.Scan([]byte("id="+id+" secret="+sec), func(f detect.Finding) { types = append(types, f.Type) })
		if len(types) == 2 {
			return id, sec
		}
	}
	t.Fatal("no random AWS key pair passes the detectors")
	return "", ""
}

// jsonEscape writes s as the inside of a JSON string the way some encoders
// do: every '+' as \u002B (.NET), every '/' as \/ (PHP).
func jsonEscape(s string) string {
	return strings.NewReplacer("+", `\u002B`, "/", `\/`).Replace(s)
}

// TestJSONEscapedKeysAreSealedDecodedAndRedacted: a key written with JSON
// escapes (\u002B for '+', \/ for '/') is found, the key sealed is the real
// (decoded) key, and neither the key nor a piece of it reaches the labels —
// whether it sits in an NDJSON field, a HEC field or event, a Loki line that
// is itself JSON, or a label whose value is JSON text. (The detectors used to
// read the raw bytes: the escaped key was not found, or a bogus run starting
// "u002B" was sealed, while labels, decoded from JSON, carried the plain
// key.)
func TestJSONEscapedKeysAreSealedDecodedAndRedacted(t *testing.T) {
	js := hdr("Content-Type", "application/json")
	hec := []string{"Authorization", "Splunk " + hecToken}
	for _, c := range []struct {
		name string
		send func(h *harness, id, esc string) response
		want int
		// label is where the key sat (empty: the message): it must now be
		// redacted.
		label    string
		plusOnly bool
	}{
		{"ndjson fields", func(h *harness, id, esc string) response {
			line := `{"msg":"boto3 session created","service":"billing","aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}`
			return h.post("/v1/ingest/logs", []byte(line+"\n"), hdr("Content-Type", "application/x-ndjson")...)
		}, http.StatusAccepted, "aws_secret_access_key", false},
		{"ndjson fields, '+' escaped only", func(h *harness, id, esc string) response {
			line := `{"msg":"boto3 session created","service":"billing","aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}`
			return h.post("/v1/ingest/logs", []byte(line+"\n"), hdr("Content-Type", "application/x-ndjson")...)
		}, http.StatusAccepted, "aws_secret_access_key", true},
		{"ndjson nested fields", func(h *harness, id, esc string) response {
			line := `{"message":"config","context":{"aws":{"key_id":"` + id + `","secret":"` + esc + `"}}}`
			return h.post("/v1/ingest/logs", []byte(line), js...)
		}, http.StatusAccepted, "context.aws.secret", false},
		{"ndjson message", func(h *harness, id, esc string) response {
			line := `{"msg":"credentials: ` + id + ` secret ` + esc + `","service":"billing"}`
			return h.post("/v1/ingest/logs", []byte(line), js...)
		}, http.StatusAccepted, "", false},
		{"ndjson field holding json text", func(h *harness, id, esc string) response {
			inner := `{"AccessKeyId":"` + id + `","SecretAccessKey":"` + esc + `"}`
			b, _ := json.Marshal(map[string]string{"msg": "assumed role", "response": inner})
			return h.post("/v1/ingest/logs", b, js...)
		}, http.StatusAccepted, "response", false},
		{"hec fields", func(h *harness, id, esc string) response {
			ev := `{"event":"boto3 session created","host":"web-1","fields":{"aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}}`
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "aws_secret_access_key", false},
		{"hec fields, '+' escaped only", func(h *harness, id, esc string) response {
			ev := `{"event":"boto3 session created","host":"web-1","fields":{"aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}}`
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "aws_secret_access_key", true},
		{"hec event object", func(h *harness, id, esc string) response {
			ev := `{"event":{"message":"config","aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"},"host":"web-1"}`
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "aws_secret_access_key", false},
		{"hec event string", func(h *harness, id, esc string) response {
			ev := `{"event":"using ` + id + ` aws_secret_access_key=` + esc + `","host":"web-1"}`
			return h.post("/services/collector/event", []byte(ev), hec...)
		}, http.StatusOK, "", false},
		{"loki json line that is json", func(h *harness, id, esc string) response {
			line := `{"level":"info","aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}`
			push := fmt.Sprintf(`{"streams":[{"stream":{"app":"billing"},"values":[["1764237600000000000",%s]]}]}`, jsonQuote(line))
			return h.post("/loki/api/v1/push", []byte(push), js...)
		}, http.StatusNoContent, "", false},
		{"loki json structured metadata holding json text", func(h *harness, id, esc string) response {
			md := `{"AccessKeyId":"` + id + `","SecretAccessKey":"` + esc + `"}`
			push := fmt.Sprintf(`{"streams":[{"stream":{"app":"billing"},"values":[["1764237600000000000","assumed role",{"response":%s}]]}]}`, jsonQuote(md))
			return h.post("/loki/api/v1/push", []byte(push), js...)
		}, http.StatusNoContent, "response", false},
		{"loki protobuf line that is json", func(h *harness, id, esc string) response {
			line := `{"level":"info","aws_access_key_id":"` + id + `","aws_secret_access_key":"` + esc + `"}`
			push := lokitest.Push(lokitest.Stream{Labels: `{app="billing"}`, Entries: []lokitest.Entry{{Sec: 1764237600, Line: line}}})
			return h.post("/loki/api/v1/push", push, hdr("Content-Type", "application/x-protobuf")...)
		}, http.StatusNoContent, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, time.Minute)
			id, sec := awsPair(t, c.plusOnly)
			if r := c.send(h, id, jsonEscape(sec)); r.code != c.want {
				t.Fatalf("answer %d %s", r.code, r.body)
			}
			h.assertNoPiece(sec)
			e := h.only(sec, id)
			if e.Secret.Type != "aws_secret_access_key" {
				t.Errorf("type %s", e.Secret.Type)
			}
			if c.label != "" {
				if v, ok := e.Location.Labels[c.label]; !ok || !strings.Contains(v, "[REDACTED]") {
					t.Errorf("label %s (present: %v): redacted: %v", c.label, ok, strings.Contains(v, "[REDACTED]"))
				}
			}
		})
	}
}
