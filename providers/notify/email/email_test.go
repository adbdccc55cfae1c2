package email_test

import (
	"context"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/email"
	"github.com/firebreak-sec/firebreak/providers/notify/email/smtptest"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

const canaryKey = "sk-proj-CANARYq7Zr2VwX9pLm4Tn8Ys3Kd6Hf1Jb5Gc0Qx9Qa"

func start(t *testing.T) *smtptest.Server {
	t.Helper()
	s, err := smtptest.Start("firebreak", "s3cret-smtp-password")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func notifier(t *testing.T, s *smtptest.Server, password string) *email.Notifier {
	t.Helper()
	n, err := email.New(email.Config{Host: s.Host, Port: s.Port, Username: "firebreak", Password: secret.Static(secret.New(password)),
		From: "Firebreak <firebreak@example.com>", To: []string{"secops@example.com"}, RootCAs: s.RootCAs})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func message() notify.Message {
	return notify.Message{Incident: "inc_01CANARY", Severity: "critical", State: "escalated", Title: "Leaked Groq key needs a person",
		Text: "Groq cannot revoke keys through its API: delete it at https://console.groq.com/keys", Provider: "groq",
		SecretType: "groq_api_key", Redacted: secret.Hint(secret.New(canaryKey)), Where: "acme/api: app.py:3",
		Actions: []string{"revoke: succeeded (escalated)"}, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestDeliversOverSTARTTLSWithAuth(t *testing.T) {
	s := start(t)
	m := message()
	m.Channel = "ada@example.com, Grace <grace@example.com>"
	retry, err := notifier(t, s, s.Password).Notify(context.Background(), m)
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.From != "firebreak@example.com" || strings.Join(got.To, ",") != "ada@example.com,grace@example.com" {
		t.Fatalf("envelope %+v", got)
	}
	if subj := got.Header.Get("Subject"); subj != "[CRITICAL] Leaked Groq key needs a person" {
		t.Fatalf("subject %q", subj)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(got.Body)))
	for _, want := range []string{"https://console.groq.com/keys", "inc_01CANARY", "sk-proj-…x9Qa", "revoke: succeeded (escalated)"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	providertest.AssertNoSecret(t, canaryKey, string(got.Data))
}

func TestDefaultRecipientsAndClassification(t *testing.T) {
	s := start(t)
	n := notifier(t, s, s.Password)
	s.FailNext(451, "4.3.0 Temporary local problem")
	retry, err := n.Notify(context.Background(), message())
	var pe *providers.Error
	if !retry || !errors.As(err, &pe) || pe.Class != providers.Retryable || !strings.Contains(pe.Message, "451") {
		t.Fatalf("451 = %v, %v; want retryable", retry, err)
	}
	s.FailNext(554, "5.7.1 Rejected")
	if retry, err = n.Notify(context.Background(), message()); retry || err == nil {
		t.Fatalf("554 = %v, %v; want permanent", retry, err)
	}
	if retry, err = n.Notify(context.Background(), message()); retry || err != nil {
		t.Fatalf("third send = %v, %v", retry, err)
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].To[0] != "secops@example.com" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestWrongPasswordIsPermanentAndNotEchoed(t *testing.T) {
	s := start(t)
	retry, err := notifier(t, s, "wrong-password-value").Notify(context.Background(), message())
	if retry || err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("bad password = %v, %v", retry, err)
	}
	if strings.Contains(err.Error(), "wrong-password-value") {
		t.Fatal("error carries the password")
	}
	if len(s.Messages()) != 0 {
		t.Fatal("delivered without auth")
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	s := start(t)
	n, err := email.New(email.Config{Host: s.Host, Port: s.Port, Username: "firebreak", Password: secret.Static(secret.New(s.Password)),
		From: "firebreak@example.com", To: []string{"a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), message())
	if retry || err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate = %v, %v; want a permanent refusal", retry, err)
	}
}

func TestRefusesPasswordWithoutTLSAndBadConfig(t *testing.T) {
	if _, err := email.New(email.Config{Host: "127.0.0.1", TLS: email.TLSNone, Password: secret.Static(secret.New("x")), From: "a@example.com"}); err == nil {
		t.Fatal("a password without TLS was accepted")
	}
	if _, err := email.New(email.Config{Host: "127.0.0.1", From: "not an address"}); err == nil {
		t.Fatal("a bad from was accepted")
	}
}

func TestCancelledContext(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := notifier(t, s, s.Password).Notify(ctx, message())
	if !retry || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled = %v, %v", retry, err)
	}
}
