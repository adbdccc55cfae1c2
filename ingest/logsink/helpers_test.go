package logsink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

const (
	b64url   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	token    = "ingest-token-for-tests-0123456789"
	hecToken = "6d2c1b8e-1f0a-4d6e-9a51-2f3c4b5a6d7e"
)

func randStr(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		x, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[x.Int64()]
	}
	return string(b)
}

// anthropicKey is a random key in Anthropic's format (not a credential).
func anthropicKey() string { return "sk-ant-api03-" + randStr(b64url, 93) + "AA" }

// openAIKey is a random sk-proj- key in OpenAI's format (not a credential).
func openAIKey() string { return "sk-proj-" + randStr(b64url, 74) + "T3BlbkFJ" + randStr(b64url, 74) }

// body returns the part of a key that is secret (the random part): what the
// canary checks look for (a prefix such as "sk-ant-api03-" appears in hints).
func body(key string) string {
	for _, p := range []string{"sk-ant-api03-", "sk-proj-"} {
		key = strings.TrimPrefix(key, p)
	}
	return key
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flakyPublisher fails publishes while down is set.
type flakyPublisher struct {
	inner logsink.Publisher
	mu    sync.Mutex
	down  bool
	calls int
}

func (f *flakyPublisher) Publish(ctx context.Context, e *exposure.Event, id string) (bus.PublishResult, error) {
	f.mu.Lock()
	f.calls++
	down := f.down
	f.mu.Unlock()
	if down {
		return bus.PublishResult{}, bus.ErrUnavailable
	}
	return f.inner.Publish(ctx, e, id)
}

func (f *flakyPublisher) setDown(v bool) {
	f.mu.Lock()
	f.down = v
	f.mu.Unlock()
}

type harness struct {
	t       *testing.T
	bus     *bustest.Bus
	keyring *secret.Keyring
	pub     *flakyPublisher
	pipe    *logsink.Pipeline
	srv     *httptest.Server
	logs    *syncBuffer
	texts   []string // every response body, for the canary checks
}

func newHarness(t *testing.T, window time.Duration) *harness {
	t.Helper()
	b := bustest.Run(t)
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetLevel(logrus.DebugLevel)
	pub := &flakyPublisher{inner: &bus.Publisher{JS: b.JS, Timeout: 5 * time.Second}}
	var w *logsink.Window
	if window > 0 {
		w = logsink.NewWindow(window, 0)
	}
	p := &logsink.Pipeline{Scanner: detect.New(), Sealer: &sealer.Sealer{Keyring: kr}, Pub: pub, Window: w,
		Metrics: logsink.NewMetrics(nil, w), Log: log}
	tokens := logsink.Tokens{staticSource(token)}
	sinks := logsink.New(logsink.Config{MaxBody: 256 << 10, Timeout: 5 * time.Second, Logs: tokens, Loki: tokens, Scan: tokens,
		HEC: logsink.Tokens{staticSource(hecToken)}}, p, web.NewMetrics(nil), log)
	mux := http.NewServeMux()
	sinks.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, bus: b, keyring: kr, pub: pub, pipe: p, srv: srv, logs: logs}
}

type staticSource string

func (s staticSource) Secret(context.Context) (secret.Value, error) {
	return secret.New(string(s)), nil
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", r.code, r.body)
	}
	return m
}

// post sends body to path with the given headers ("Authorization" etc.).
func (h *harness) post(path string, body []byte, headers ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.texts = append(h.texts, string(b))
	for k, vs := range resp.Header {
		h.texts = append(h.texts, k+": "+strings.Join(vs, ","))
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// exposures returns every exposure on the stream.
func (h *harness) exposures() []*exposure.Event {
	h.t.Helper()
	var out []*exposure.Event
	for _, m := range bustest.StreamMessages(h.t, h.bus.JS, exposure.StreamExposures) {
		e, err := exposure.Decode(m.Data)
		if err != nil {
			h.t.Fatalf("stream holds an invalid exposure: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// streamTexts is every subject, header and body on the exposure stream.
func (h *harness) streamTexts() []string {
	var out []string
	for _, m := range bustest.StreamMessages(h.t, h.bus.JS, exposure.StreamExposures) {
		out = append(out, m.Subject, string(m.Data))
		for k, vs := range m.Header {
			out = append(out, k+": "+strings.Join(vs, ","))
		}
	}
	return out
}

// open opens an exposure's sealed secret with the harness keyring.
func (h *harness) open(e *exposure.Event) string {
	h.t.Helper()
	v, err := h.keyring.Open(context.Background(), e.Secret.Sealed, []byte(e.Secret.Fingerprint))
	if err != nil {
		h.t.Fatalf("open sealed secret: %v", err)
	}
	return v.Reveal()
}

var _ jetstream.Msg

func secretOf(s string) secret.Value { return secret.New(s) }
