package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook/webhookemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

const (
	signingKey = "whsec-CANARY-signing-key-5f2b9c"
	canaryKey  = "sk-ant-api03-CANARYz8Yw7Xv6Ut5Sr4Qp3On2Ml1Kj0Ih9Gf8Ed7Cb6Aa"
	// Credentials in the receiver URL that must never reach an error.
	urlUser  = "hookuser"
	urlPass  = "CANARYurlpassword99"
	urlToken = "CANARYquerytoken77"
)

func message() notify.Message {
	return notify.Message{
		Incident:    "inc_01JBWEBHOOK",
		Correlation: "corr-1",
		Severity:    "critical",
		State:       "revoked",
		Title:       "Leaked Anthropic key revoked",
		Text:        "Revoked a key found in PROJ-12",
		Provider:    "anthropic",
		SecretType:  "anthropic_api_key",
		Redacted:    secret.Hint(secret.New(canaryKey)),
		Where:       "jira PROJ-12",
		WhereURL:    "https://acme.atlassian.net/browse/PROJ-12",
		Actions:     []string{"revoked key at Anthropic"},
		At:          time.Date(2026, 11, 26, 22, 45, 0, 0, time.UTC),
	}
}

type fixture struct {
	rcv *webhookemu.Receiver
	url string // with credentials, as configured
	n   *webhook.Notifier
}

func setup(t *testing.T, rc webhookemu.Config, nc webhook.Config) *fixture {
	t.Helper()
	if rc.Secret == nil {
		rc.Secret = []byte(signingKey)
	}
	rcv := webhookemu.New(rc)
	base := rcv.Start()
	t.Cleanup(rcv.Close)
	u := strings.Replace(base, "http://", "http://"+urlUser+":"+urlPass+"@", 1) + "/hooks/firebreak?token=" + urlToken
	if nc.URL == "" {
		nc.URL = u
	}
	if nc.Secret == nil {
		nc.Secret = secret.Static(secret.New(signingKey))
	}
	n, err := webhook.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{rcv: rcv, url: u, n: n}
}

func assertNoLeak(t *testing.T, what, s string) {
	t.Helper()
	for _, leak := range []string{signingKey, urlPass, urlToken, canaryKey, canaryKey[len(canaryKey)-20:]} {
		if strings.Contains(s, leak) {
			t.Fatalf("%s carries %q: %s", what, leak, s)
		}
	}
}

func assertErrNoLeak(t *testing.T, err error) {
	t.Helper()
	assertNoLeak(t, "error", err.Error())
	assertNoLeak(t, "error", fmt.Sprintf("%+v %#v", err, err))
}

func TestDelivery(t *testing.T) {
	f := setup(t, webhookemu.Config{}, webhook.Config{Headers: map[string]string{"x-api-key": "gateway-key"}})
	m := message()
	retry, err := f.n.Notify(context.Background(), m)
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	ds := f.rcv.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries; rejections %+v", len(ds), f.rcv.Rejections())
	}
	d := ds[0]
	if d.Envelope.Type != "firebreak.incident.v1" || d.Envelope.ID != webhook.DeliveryID(m) || !strings.HasPrefix(d.Envelope.ID, "dlv_") {
		t.Errorf("envelope %q %q", d.Envelope.Type, d.Envelope.ID)
	}
	got := d.Envelope.Message
	if got.Incident != m.Incident || got.Redacted != m.Redacted || got.Where != m.Where || got.WhereURL != m.WhereURL ||
		got.Provider != m.Provider || len(got.Actions) != 1 || !got.At.Equal(m.At) {
		t.Errorf("message %+v", got)
	}
	if d.Header.Get(webhook.HeaderDelivery) != d.Envelope.ID || d.Header.Get("X-Api-Key") != "gateway-key" ||
		d.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", d.Header)
	}
	if time.Since(d.Timestamp).Abs() > time.Minute {
		t.Errorf("timestamp %v", d.Timestamp)
	}
	// Documented top-level shape: exactly type, id, message.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(d.Body, &top); err != nil || len(top) != 3 || top["type"] == nil || top["id"] == nil || top["message"] == nil {
		t.Errorf("envelope members: %s", d.Body)
	}
	// The receiver can verify on its own; nothing secret went over the wire
	// but the URL's own credentials (as the request line and basic auth).
	if err := webhook.Verify([]byte(signingKey), d.Header, d.Body, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "body", string(d.Body))
	for k, vs := range d.Header {
		if k != "Authorization" {
			assertNoLeak(t, "header "+k, strings.Join(vs, ","))
		}
	}
}

// A retry of a delivery that got through is answered 409 by the receiver and
// counts as delivered; a different message is a different delivery.
func TestRetryIsIdempotent(t *testing.T) {
	f := setup(t, webhookemu.Config{}, webhook.Config{})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if retry, err := f.n.Notify(ctx, message()); err != nil || retry {
			t.Fatalf("attempt %d: %v, %v", i, retry, err)
		}
	}
	m2 := message()
	m2.At = m2.At.Add(time.Second)
	if _, err := f.n.Notify(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if n := len(f.rcv.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
	rej := f.rcv.Rejections()
	if len(rej) != 1 || rej[0].Status != 409 {
		t.Fatalf("rejections %+v", rej)
	}
	if webhook.DeliveryID(message()) == webhook.DeliveryID(m2) {
		t.Fatal("different messages share a delivery id")
	}
}

// A captured request replayed as is: 409 within the tolerance, 401 after.
func TestReplayRejected(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := setup(t, webhookemu.Config{Now: clock}, webhook.Config{})
	if _, err := f.n.Notify(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	captured := f.rcv.Requests()[0]
	replay := func() int {
		t.Helper()
		req, _ := http.NewRequest(captured.Method, f.rcv.URL()+captured.Path, bytes.NewReader(captured.Body))
		req.Header = captured.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := replay(); s != http.StatusConflict {
		t.Fatalf("replay within the window: %d, want 409", s)
	}
	// Changing the unsigned delivery header does not get a replay through.
	captured.Header.Set(webhook.HeaderDelivery, "dlv_other")
	if s := replay(); s != http.StatusBadRequest {
		t.Fatalf("replay with another delivery header: %d, want 400", s)
	}
	captured.Header.Set(webhook.HeaderDelivery, webhook.DeliveryID(message()))
	mu.Lock()
	now = now.Add(6 * time.Minute)
	mu.Unlock()
	if s := replay(); s != http.StatusUnauthorized {
		t.Fatalf("replay after the window: %d, want 401", s)
	}
	if n := len(f.rcv.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestPermanentFailures(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, retry bool, err error, status int) {
		t.Helper()
		var pe *providers.Error
		if retry || !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Status != status {
			t.Fatalf("Notify = %v, %#v; want permanent HTTP %d", retry, err, status)
		}
		assertErrNoLeak(t, err)
	}

	t.Run("wrong secret 401", func(t *testing.T) {
		f := setup(t, webhookemu.Config{}, webhook.Config{Secret: secret.Static(secret.New("whsec-wrong"))})
		retry, err := f.n.Notify(ctx, message())
		check(t, retry, err, 401)
		if !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("error %q lacks the receiver's reason", err)
		}
	})
	t.Run("receiver clock skew 401 stale", func(t *testing.T) {
		f := setup(t, webhookemu.Config{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }}, webhook.Config{})
		retry, err := f.n.Notify(ctx, message())
		check(t, retry, err, 401)
		if !strings.Contains(err.Error(), "timestamp outside the tolerance") {
			t.Errorf("error %q", err)
		}
	})
	for _, status := range []int{400, 403, 404, 410} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := setup(t, webhookemu.Config{}, webhook.Config{})
			// A receiver that echoes what it got, credentials included.
			f.rcv.Inject(emulator.Fault{Count: 1, Status: status,
				Body: `{"error":"refused ` + f.url + ` key ` + signingKey + ` pass ` + urlPass + `"}`})
			retry, err := f.n.Notify(ctx, message())
			check(t, retry, err, status)
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q lacks the receiver's message", err)
			}
		})
	}
	t.Run("redirect not followed", func(t *testing.T) {
		var hit bool
		target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
		defer target.Close()
		redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer redirector.Close()
		n, err := webhook.New(webhook.Config{URL: redirector.URL + "/?token=" + urlToken, Secret: secret.Static(secret.New(signingKey))})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := n.Notify(ctx, message())
		check(t, retry, err, 307)
		if hit {
			t.Fatal("the redirect was followed")
		}
	})
}

// TestErrorEchoAcrossTheCutIsScrubbed: a receiver's error text is cut to 200
// characters; the URL's token or the signing secret echoed across that cut
// leaves no piece in the error, because scrubbing comes before the cut.
// Before, the cut came first and the exact-match URL scrub and the
// 12-character key scrub missed the piece that was left.
func TestErrorEchoAcrossTheCutIsScrubbed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		echo   func(f *fixture) string
		before int // characters of the echo before the cut
	}{
		{"URL token", func(*fixture) string { return urlToken }, 9},
		{"signing secret", func(*fixture) string { return signingKey }, 20},
		{"whole URL, cut in its password", func(f *fixture) string { return f.url }, len("http://" + urlUser + ":CANARYurlp")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, webhookemu.Config{}, webhook.Config{})
			e := tc.echo(f)
			text := "refused: " + strings.Repeat("x", 200-len("refused: ")-tc.before) + e + " (echoed)"
			f.rcv.Inject(emulator.Fault{Count: 1, Status: 400, Body: `{"error":"` + text + `"}`})
			_, err := f.n.Notify(context.Background(), message())
			if err == nil || !strings.Contains(err.Error(), "refused: xxx") {
				t.Fatalf("Notify = %v; want the receiver's message", err)
			}
			for _, leak := range []string{urlToken, urlPass, signingKey} {
				providertest.AssertNoSecretRun(t, leak, scrub.MinRun, err.Error(), fmt.Sprintf("%+v %#v", err, err))
			}
		})
	}
}

// TestHeaderValuesAreScrubbedFromErrors: a receiver (or the gateway in
// front of it) that echoes a configured header's value, an API key say,
// does not get it into Firebreak's error.
func TestHeaderValuesAreScrubbedFromErrors(t *testing.T) {
	const gatewayKey = "gw-CANARY-5c1d9e7a3b2f"
	f := setup(t, webhookemu.Config{}, webhook.Config{Headers: map[string]string{"X-Api-Key": gatewayKey, "X-Team": "payments"}})
	f.rcv.Inject(emulator.Fault{Count: 1, Status: 403, Body: `{"error":"api key ` + gatewayKey + ` is not allowed for team payments"}`})
	_, err := f.n.Notify(context.Background(), message())
	if err == nil || !strings.Contains(err.Error(), "is not allowed for team payments") {
		t.Fatalf("Notify = %v; want the receiver's message, short header values kept", err)
	}
	providertest.AssertNoSecretRun(t, gatewayKey, scrub.MinRun, err.Error(), fmt.Sprintf("%+v %#v", err, err))
}

func TestRetryable(t *testing.T) {
	ctx := context.Background()
	t.Run("429 carries Retry-After", func(t *testing.T) {
		f := setup(t, webhookemu.Config{}, webhook.Config{})
		f.rcv.Inject(emulator.Fault{Count: 1, Status: 429, RetryAfter: "12"})
		retry, err := f.n.Notify(ctx, message())
		class, after := providers.Classify(err)
		if !retry || class != providers.Retryable || after != 12*time.Second {
			t.Fatalf("Notify = %v, %v; Classify = %v, %v", retry, err, class, after)
		}
		assertErrNoLeak(t, err)
		if retry, err := f.n.Notify(ctx, message()); err != nil || retry {
			t.Fatalf("after the 429: %v, %v", retry, err)
		}
		if len(f.rcv.Deliveries()) != 1 {
			t.Fatal("not delivered after the 429")
		}
	})
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := setup(t, webhookemu.Config{}, webhook.Config{})
			f.rcv.Inject(emulator.Fault{Count: 1, Status: status})
			retry, err := f.n.Notify(ctx, message())
			var pe *providers.Error
			if !retry || !errors.As(err, &pe) || pe.Class != providers.Retryable || pe.Status != status {
				t.Fatalf("Notify = %v, %#v", retry, err)
			}
			assertErrNoLeak(t, err)
		})
	}
	t.Run("dropped connection", func(t *testing.T) {
		f := setup(t, webhookemu.Config{}, webhook.Config{})
		f.rcv.Inject(emulator.Fault{Count: 1, Drop: true})
		retry, err := f.n.Notify(ctx, message())
		if !retry || err == nil {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertErrNoLeak(t, err)
	})
	t.Run("receiver down", func(t *testing.T) {
		f := setup(t, webhookemu.Config{}, webhook.Config{})
		f.rcv.Close()
		retry, err := f.n.Notify(ctx, message())
		if !retry || err == nil {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertErrNoLeak(t, err)
	})
	t.Run("deadline", func(t *testing.T) {
		f := setup(t, webhookemu.Config{}, webhook.Config{})
		f.rcv.Inject(emulator.Fault{Count: 1, Delay: time.Second, Status: 200})
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		retry, err := f.n.Notify(ctx, message())
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertErrNoLeak(t, err)
	})
}

func TestNewValidates(t *testing.T) {
	src := secret.Static(secret.New(signingKey))
	for name, c := range map[string]webhook.Config{
		"no URL":          {Secret: src},
		"relative URL":    {URL: "/hooks?token=" + urlToken, Secret: src},
		"bad scheme":      {URL: "ftp://x/?token=" + urlToken, Secret: src},
		"unparseable":     {URL: "http://[::1/%zz?token=" + urlToken, Secret: src},
		"no secret":       {URL: "https://example.com/?token=" + urlToken},
		"reserved header": {URL: "https://example.com/", Secret: src, Headers: map[string]string{"firebreak-signature": "v1=00"}},
		"content-type":    {URL: "https://example.com/", Secret: src, Headers: map[string]string{"Content-Type": "text/plain"}},
		"header CRLF":     {URL: "https://example.com/", Secret: src, Headers: map[string]string{"X-A": "a\r\nX-B: b"}},
	} {
		if _, err := webhook.New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		} else {
			assertErrNoLeak(t, err)
		}
	}
}

type failingSource struct{}

func (failingSource) Secret(context.Context) (secret.Value, error) {
	return secret.Value{}, errors.New("vault: connection refused")
}

func TestSecretSource(t *testing.T) {
	f := setup(t, webhookemu.Config{}, webhook.Config{Secret: failingSource{}})
	retry, err := f.n.Notify(context.Background(), message())
	if !retry || err == nil || !strings.Contains(err.Error(), "signing secret") {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	f = setup(t, webhookemu.Config{}, webhook.Config{Secret: secret.Static(secret.Value{})})
	if retry, err := f.n.Notify(context.Background(), message()); retry || err == nil {
		t.Fatalf("empty secret: %v, %v", retry, err)
	}
	if len(f.rcv.Requests()) != 0 {
		t.Fatal("an unsigned delivery was sent")
	}
}
