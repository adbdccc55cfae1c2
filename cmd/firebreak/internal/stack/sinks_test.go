package stack_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
	"github.com/firebreak-sec/firebreak/ingest/tlstest"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
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
func anthropicKey() string {
	return "sk-ant-api03-" + randStr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 93) + "AA"
}

func sample(t *testing.T, name, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "testdata", "logsink", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "{{KEY}}", key))
}

// allTexts gathers what the canary checks grep: the log, every stream
// message (subject, headers, body), every KV entry, the notifications.
func allTexts(t *testing.T, e *env) []string {
	t.Helper()
	texts := []string{e.logs.String()}
	for _, stream := range []string{exposure.StreamExposures, exposure.StreamAudit, exposure.StreamDead} {
		for _, m := range bustest.StreamMessages(t, e.App.JS, stream) {
			texts = append(texts, m.Subject, string(m.Data))
			for k, vs := range m.Header {
				texts = append(texts, k+": "+strings.Join(vs, ","))
			}
		}
	}
	ctx := context.Background()
	for _, bucket := range []string{exposure.BucketIncidents, exposure.BucketDeliveries} {
		kv, err := e.App.JS.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := kv.Keys(ctx)
		for _, k := range keys {
			if v, err := kv.Get(ctx, k); err == nil {
				texts = append(texts, k, string(v.Value()))
			}
		}
	}
	for _, m := range e.Slack.Messages() {
		texts = append(texts, m.AllText())
	}
	for _, d := range e.Webhook.Deliveries() {
		texts = append(texts, string(d.Body))
	}
	// Nothing at rest in plaintext either.
	_ = filepath.WalkDir(e.App.Cfg.DataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				texts = append(texts, string(b))
			}
		}
		return nil
	})
	return texts
}

// TestLokiPushAnthropicKeyToNotify: a Loki push carrying an Anthropic key,
// as shippers send it (JSON with gzip: Vector, Fluent Bit; protobuf with
// snappy: Promtail, Grafana Alloy) → an exposure from source loki with the
// stream's labels and environment → the matching playbook (notify steps
// only; see testdata/logsink/playbooks) → the Slack message and the signed
// webhook.
func TestLokiPushAnthropicKeyToNotify(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		testLokiPushToNotify(t, func(push []byte) ([]byte, []string) {
			return gzipped(push), []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}
		})
	})
	t.Run("protobuf", func(t *testing.T) {
		testLokiPushToNotify(t, func(push []byte) ([]byte, []string) {
			return lokiProtobuf(t, push), []string{"Content-Type", "application/x-protobuf"}
		})
	})
}

// lokiProtobuf turns a JSON Loki push into the same push in protobuf.
func lokiProtobuf(t *testing.T, push []byte) []byte {
	t.Helper()
	var p struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(push, &p); err != nil {
		t.Fatal(err)
	}
	var streams []lokitest.Stream
	for _, s := range p.Streams {
		var pairs []string
		for k, v := range s.Stream {
			pairs = append(pairs, k+"="+strconv.Quote(v))
		}
		sort.Strings(pairs)
		st := lokitest.Stream{Labels: "{" + strings.Join(pairs, ", ") + "}"}
		for _, v := range s.Values {
			ns, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			st.Entries = append(st.Entries, lokitest.Entry{Sec: ns / 1e9, Nanos: ns % 1e9, Line: v[1]})
		}
		streams = append(streams, st)
	}
	return lokitest.Push(streams...)
}

func testLokiPushToNotify(t *testing.T, encode func(push []byte) (body []byte, headers []string)) {
	e := start(t, stack.Options{Configure: func(c *config.Config) {
		f := false
		c.Playbooks.Builtin = &f // independent of the built-ins other providers add
		c.Playbooks.Dir = filepath.Join("..", "..", "..", "..", "testdata", "logsink", "playbooks")
	}})
	tok, err := e.IngestToken()
	if err != nil {
		t.Fatal(err)
	}
	key := anthropicKey()
	ctx := ctxT(t, 30*time.Second)
	push, headers := encode(sample(t, "loki-push.json", key))
	code, body, err := e.Post(ctx, "/loki/api/v1/push", push, append([]string{"Authorization", "Bearer " + tok}, headers...)...)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("push: %d %s %v", code, body, err)
	}
	id := e.IncidentFor(key)
	in, err := e.WaitIncident(ctx, id, stack.Terminal)
	if err != nil || in.State != incident.Completed { // notified, nothing revoked
		t.Fatalf("incident %+v %v", in, err)
	}
	x := in.Exposures[0]
	if x.Source != exposure.SourceLoki || x.Environment != exposure.EnvProd || x.Location.Labels["app"] != "payments-api" ||
		x.Location.Stream != `{app="payments-api",container="api",job="kubernetes-pods",namespace="payments-prod"}` {
		t.Fatalf("exposure %+v", x)
	}
	if len(in.Playbooks) != 1 || in.Playbooks[0] != "loki-anthropic-notify" {
		t.Fatalf("playbooks %v", in.Playbooks)
	}
	msgs := e.Slack.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "leaked in logs at loki {app=\"payments-api\"") ||
		!strings.Contains(msgs[0].AllText(), "(prod, seen 1 time(s)") {
		t.Fatalf("slack: %+v", msgs)
	}
	if len(e.Webhook.Deliveries()) != 1 {
		t.Fatalf("webhook deliveries: %d", len(e.Webhook.Deliveries()))
	}
	waitIdle(t, e)
	// The key's random part appears nowhere (its "sk-ant-api03-" prefix is
	// in the hint, by design).
	providertest.AssertNoSecret(t, strings.TrimPrefix(key, "sk-ant-api03-"), append(allTexts(t, e), string(body))...)
}

// hecChannel is the HEC request channel TestHECEventOpenAIKeyRevoked sends on.
const hecChannel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"

// TestHECEventOpenAIKeyRevoked: a live OpenAI key in a Splunk HEC event (the
// second of two concatenated events) → revoked at the OpenAI emulator by the
// built-in playbook, owner notified.
func TestHECEventOpenAIKeyRevoked(t *testing.T) {
	e := start(t, stack.Options{})
	tok, err := e.IngestToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, keyID := e.OpenAI.AddKey(e.OpenAI.AddProject("billing"), openaiemu.Owner{Type: "user", Name: "ana", Email: "ana@example.com"})
	ctx := ctxT(t, 30*time.Second)
	code, body, err := e.Post(ctx, "/services/collector/event", sample(t, "hec-events.json", raw),
		"Authorization", "Splunk "+tok, "X-Splunk-Request-Channel", hecChannel)
	if err != nil || code != http.StatusOK || string(body) != "{\"ackId\":0,\"code\":0,\"text\":\"Success\"}\n" {
		t.Fatalf("hec: %d %s %v", code, body, err)
	}
	// Indexer acknowledgement: the exposure was stored before the 200.
	code, ack, err := e.Post(ctx, "/services/collector/ack", []byte(`{"acks":[0]}`),
		"Authorization", "Splunk "+tok, "X-Splunk-Request-Channel", hecChannel)
	if err != nil || code != http.StatusOK || string(ack) != "{\"acks\":{\"0\":true}}\n" {
		t.Fatalf("hec ack: %d %s %v", code, ack, err)
	}
	in, err := e.WaitIncident(ctx, e.IncidentFor(raw), stack.Terminal)
	if err != nil || in.State != incident.Contained {
		t.Fatalf("incident %+v %v", in, err)
	}
	if d := e.OpenAI.Deletions(); len(d) != 1 || d[0].ID != keyID {
		t.Fatalf("deletions %+v", d)
	}
	x := in.Exposures[0]
	if x.Source != exposure.SourceSplunkHEC || x.Environment != exposure.EnvProd || x.Location.Labels["host"] != "ip-10-0-3-17" ||
		x.Ref != "channel:"+hecChannel {
		t.Fatalf("exposure %+v", x)
	}
	if msgs := e.Slack.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].AllText(), "Revoked OpenAI key") {
		t.Fatalf("slack: %+v", msgs)
	}
	// The same key again in a flood: folded into the window, no second
	// revocation, no second exposure.
	for i := 0; i < 5; i++ {
		if code, body, err := e.Post(ctx, "/services/collector/event", sample(t, "hec-events.json", raw), "Authorization", "Splunk "+tok); err != nil || code != http.StatusOK {
			t.Fatalf("repeat: %d %s %v", code, body, err)
		}
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 1 {
		t.Fatalf("%d exposures on the stream", n)
	}
	waitIdle(t, e)
	// The correlation id is the HEC request channel, on the incident and
	// on every audit record of it, the revocation's included.
	if in, err = e.WaitIncident(ctx, in.ID, stack.Terminal); err != nil || in.Correlation != hecChannel {
		t.Fatalf("incident correlation %q, want the request channel (%v)", in.Correlation, err)
	}
	recs := auditRecords(t, e, in.ID)
	var revoked bool
	for _, r := range recs {
		if r.Correlation != in.Correlation {
			t.Errorf("audit %s (seq %d) carries correlation %q", r.Kind, r.Seq, r.Correlation)
		}
		revoked = revoked || r.Kind == audit.KindStepSucceeded && r.Step == "revoke"
	}
	if uint64(len(recs)) != in.AuditSeq || !revoked {
		t.Fatalf("%d audit records (the incident's head at %d), revoke's step.succeeded among them: %v", len(recs), in.AuditSeq, revoked)
	}
	providertest.AssertNoSecret(t, strings.TrimPrefix(raw, "sk-proj-"), append(allTexts(t, e), string(body))...)
}

// TestNDJSONLogsToIncident: the NDJSON sample (Fluent Bit's json_lines shape)
// through /v1/ingest/logs: the environment comes from the Kubernetes
// namespace.
func TestNDJSONLogsToIncident(t *testing.T) {
	e := start(t, stack.Options{})
	tok, err := e.IngestToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := e.OpenAI.AddKey(e.OpenAI.AddProject("billing"), openaiemu.Owner{Type: "user", Name: "bo"})
	ctx := ctxT(t, 30*time.Second)
	code, body, err := e.Post(ctx, "/v1/ingest/logs?cluster=eu-1", sample(t, "logs.ndjson", raw),
		"Authorization", "Bearer "+tok, "Content-Type", "application/x-ndjson")
	if err != nil || code != http.StatusAccepted || !strings.Contains(string(body), `"exposure_ids":["exp_`) {
		t.Fatalf("logs: %d %s %v", code, body, err)
	}
	in, err := e.WaitIncident(ctx, e.IncidentFor(raw), stack.Terminal)
	if err != nil || in.State != incident.Contained || in.Exposures[0].Environment != exposure.EnvStaging ||
		in.Exposures[0].Location.Labels["kubernetes.pod_name"] != "billing-5c7d" {
		t.Fatalf("incident %+v %v", in, err)
	}
	waitIdle(t, e)
	providertest.AssertNoSecret(t, strings.TrimPrefix(raw, "sk-proj-"), append(allTexts(t, e), string(body))...)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// TestSyslogOverTLSOpenAIKeyRevoked: serve configured for syslog over mutual
// TLS (ingest.syslog.tls with client_ca_file) → a sender with a certificate
// from the CA sends an RFC 5424 message holding a live OpenAI key → revoked
// at the OpenAI emulator, exposure from source syslog; a sender without a
// certificate gets nothing in.
func TestSyslogOverTLSOpenAIKeyRevoked(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "senders")
	certFile, keyFile := tlstest.WriteFiles(t, dir, "syslog", ca.Server(t, "syslog"))
	caFile := ca.WriteFile(t, dir)
	e := start(t, stack.Options{Configure: func(c *config.Config) {
		c.Ingest.Syslog.Listen = "127.0.0.1:0"
		c.Ingest.Syslog.Labels = map[string]string{"env": "prod"}
		c.Ingest.Syslog.TLS = config.SyslogTLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}
	}})
	raw, keyID := e.OpenAI.AddKey(e.OpenAI.AddProject("batch"), openaiemu.Owner{Type: "user", Name: "ana", Email: "ana@example.com"})
	msg := `<163>1 2026-01-27T10:00:01Z worker-3 batch 77 - - export OPENAI_API_KEY=` + raw
	frame := fmt.Sprintf("%d %s", len(msg), msg)
	send := func(certs ...tls.Certificate) error {
		c, err := tls.Dial("tcp", e.App.Syslog.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: certs})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte(frame)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1)) // a refused certificate shows here (TLS 1.3)
		return err
	}
	if err := send(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a sender without a certificate was not refused: %v", err)
	}
	if err := send(ca.Client(t, "worker-3")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the certified sender: %v", err)
	}
	ctx := ctxT(t, 30*time.Second)
	in, err := e.WaitIncident(ctx, e.IncidentFor(raw), stack.Terminal)
	if err != nil || in.State != incident.Contained {
		t.Fatalf("incident %+v %v", in, err)
	}
	if d := e.OpenAI.Deletions(); len(d) != 1 || d[0].ID != keyID {
		t.Fatalf("deletions %+v", d)
	}
	if x := in.Exposures[0]; x.Source != exposure.SourceSyslog || x.Environment != exposure.EnvProd || x.Location.Labels["host"] != "worker-3" {
		t.Fatalf("exposure %+v", x)
	}
	if n := len(bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures)); n != 1 {
		t.Fatalf("%d exposures on the stream", n)
	}
	waitIdle(t, e)
	providertest.AssertNoSecret(t, strings.TrimPrefix(raw, "sk-proj-"), allTexts(t, e)...)
}
