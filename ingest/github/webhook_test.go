package github

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

var key = secret.New("webhook-secret")

func handler(t testing.TB) (*Handler, *bustest.Bus) {
	b := bustest.Run(t)
	l := logrus.New()
	l.SetOutput(io.Discard)
	h, err := New(Config{Secret: secret.Static(key), MaxBody: 1 << 20}, &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

func do(h http.Handler, event, delivery, sig string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/v1/ingest/github", bytes.NewReader(body))
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", delivery)
	if sig != "" {
		r.Header.Set("X-Hub-Signature-256", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestSampleAlertBecomesAnExposure: the recorded sample payload becomes an
// exposure naming the alert, on the right subject, with no secret in it.
func TestSampleAlertBecomesAnExposure(t *testing.T) {
	h, b := handler(t)
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "github", "alert-created-openai.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := do(h, "secret_scanning_alert", "d-1", SignatureHeader(key, body), body)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	msgs := b.Messages(t, exposure.StreamExposures)
	if len(msgs) != 1 || msgs[0].Subject != "firebreak.exposures.github.openai" || msgs[0].Header.Get("Nats-Msg-Id") != "github:d-1" {
		t.Fatalf("published %d messages: %+v", len(msgs), msgs)
	}
	e, err := exposure.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if e.Alert.Repository != "acme/payments-api" || e.Alert.Number != 17 || e.Alert.Action != "created" ||
		e.Secret.Type != "openai_api_key" || e.Source.DeliveryID != "d-1" || e.Correlation != "gh-d-1" || e.Secret.Sealed != "" {
		t.Fatalf("exposure %+v", e)
	}
	var resp map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	if resp["exposure_id"] != e.ID {
		t.Fatalf("answered %v for %s", resp, e.ID)
	}
}

func TestSignatureChecks(t *testing.T) {
	h, _ := handler(t)
	body := []byte(`{"zen":"x"}`)
	good := SignatureHeader(key, body)
	for sig, want := range map[string]int{
		good:                                http.StatusOK,
		"":                                  http.StatusUnauthorized,
		"sha1=abc":                          http.StatusUnauthorized,
		"sha256=zz":                         http.StatusUnauthorized,
		"sha256=" + strings.Repeat("0", 64): http.StatusUnauthorized,
		strings.ToUpper(good):               http.StatusUnauthorized,
		SignatureHeader(secret.New("other"), body): http.StatusUnauthorized,
	} {
		if w := do(h, "ping", "d", sig, body); w.Code != want {
			t.Errorf("signature %.20q: %d, want %d", sig, w.Code, want)
		}
	}
}

// TestWebhookSecretUnavailable: a webhook secret file removed after start is
// a server-side problem, answered 503 with a message saying so (not 401, which
// would blame the sender); nothing is published, and the secret is read again
// at the next request, so a restored (rotated) file takes effect at once.
func TestWebhookSecretUnavailable(t *testing.T) {
	b := bustest.Run(t)
	l := logrus.New()
	l.SetOutput(io.Discard)
	file := filepath.Join(t.TempDir(), "webhook-secret")
	src, err := secret.Resolvers{}.Source(secret.Ref("file:" + file))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Secret: src, MaxBody: 1 << 20}, &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "github", "alert-created-openai.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := do(h, "secret_scanning_alert", "d-gone", SignatureHeader(key, body), body)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "the webhook secret is unavailable on the server") {
		t.Fatalf("secret file missing: %d %s", w.Code, w.Body)
	}
	if msgs := b.Messages(t, exposure.StreamExposures); len(msgs) != 0 {
		t.Fatalf("published %d exposures without checking the signature", len(msgs))
	}
	if err := os.WriteFile(file, []byte(key.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w := do(h, "secret_scanning_alert", "d-back", SignatureHeader(key, body), body); w.Code != http.StatusAccepted {
		t.Fatalf("secret file restored: %d %s", w.Code, w.Body)
	}
}

// FuzzWebhook throws arbitrary events, bodies and signatures at the handler
// (signed correctly or not): it must answer with one of its documented
// statuses and a JSON body, never panic, publish only valid exposures, and
// record an alert's state (open or resolved) only for an alert it accepted.
func FuzzWebhook(f *testing.F) {
	for _, name := range []string{"alert-created-openai.json", "alert-resolved-false-positive.json", "ping.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "github", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add("secret_scanning_alert", b, true)
	}
	f.Add("secret_scanning_alert_location", []byte(`{"action":"created","alert":{"number":1,"secret_type":"x"},"repository":{"full_name":"a/b"},"location":{"type":"commit","details":{"path":"p"}}}`), true)
	f.Add("ping", []byte(`{`), false)
	// An in-memory publisher: fuzzing wants thousands of executions a second,
	// and the bus's own behaviour is tested above with a real JetStream.
	pub := &memPublisher{}
	marks := &memLedger{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	h, err := New(Config{Secret: secret.Static(key), MaxBody: 1 << 20, Alerts: marks}, pub, l, nil)
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[int]bool{200: true, 202: true, 400: true, 401: true, 413: true}
	// 503 would mean the publisher refused an exposure the handler built:
	// an invalid event, which is a bug.
	n := 0
	f.Fuzz(func(t *testing.T, event string, body []byte, sign bool) {
		sig := "sha256=00"
		if sign {
			sig = SignatureHeader(key, body)
		}
		n++
		before := len(marks.states)
		w := do(h, event, "fuzz-"+strings.Repeat("x", n%7)+string(rune('a'+n%26)), sig, body)
		if got := marks.states[before:]; len(got) > 0 &&
			(len(got) != 1 || w.Code != http.StatusAccepted || event != "secret_scanning_alert" || (got[0] != AlertOpen && got[0] != AlertResolved)) {
			t.Fatalf("marked %v for event %q answered %d", got, event, w.Code)
		}
		if !allowed[w.Code] {
			t.Fatalf("status %d for event %q: %s", w.Code, event, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("non-JSON answer: %q", w.Body)
		}
		if !sign && w.Code < 300 && event != "" {
			t.Fatalf("unsigned request answered %d", w.Code)
		}
	})
}

// memLedger records the alert states the handler marks.
type memLedger struct{ states []string }

func (m *memLedger) MarkAlert(_ context.Context, _ string, _ int64, state string, _ time.Time) error {
	m.states = append(m.states, state)
	return nil
}

// memPublisher validates and counts what would be published.
type memPublisher struct{ n int }

func (m *memPublisher) Publish(_ context.Context, e *exposure.Event, _ string) (bus.PublishResult, error) {
	b, _ := json.Marshal(e)
	if _, err := exposure.Decode(b); err != nil {
		return bus.PublishResult{}, err
	}
	m.n++
	return bus.PublishResult{Sequence: uint64(m.n)}, nil
}

func (m *memPublisher) SeenDelivery(context.Context, string, string) (*bus.Delivery, error) {
	return nil, nil
}

func (m *memPublisher) RememberDelivery(context.Context, string, string, []string) error { return nil }

// TestIgnoredReasonsDoNotEchoKeys: the reason an ignored delivery is given
// names its event or action when that is a word, and only its length when
// it may be a key pasted in its place.
func TestIgnoredReasonsDoNotEchoKeys(t *testing.T) {
	h, _ := handler(t)
	pasted := "sk-proj-" + strings.Repeat("CANARYcanary", 4) + "T3BlbkFJ" + strings.Repeat("CANARYcanary", 4)
	alert := func(action string) []byte {
		return []byte(`{"action":"` + action + `","alert":{"number":1,"secret_type":"openai_api_key"},"repository":{"full_name":"acme/app"}}`)
	}
	for _, c := range []struct {
		event string
		body  []byte
		want  string
	}{
		{"push", []byte(`{}`), `event "push" is not handled by this ingester`},
		{pasted, []byte(`{}`), `event (a 112-byte name, not shown) is not handled by this ingester`},
		{"secret_scanning_alert", alert("assigned"), `secret_scanning_alert action "assigned" needs no response`},
		{"secret_scanning_alert", alert(pasted), `secret_scanning_alert action (a 112-byte value, not shown) needs no response`},
	} {
		w := do(h, c.event, "d-ignored", SignatureHeader(key, c.body), c.body)
		var resp struct{ Reason string }
		_ = json.Unmarshal(w.Body.Bytes(), &resp)
		if w.Code != http.StatusAccepted || resp.Reason != c.want || strings.Contains(w.Body.String(), "CANARY") {
			t.Errorf("%.24s: %d %s, want 202 with %q", c.event, w.Code, w.Body, c.want)
		}
	}
}
