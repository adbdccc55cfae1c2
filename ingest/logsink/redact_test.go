package logsink_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
