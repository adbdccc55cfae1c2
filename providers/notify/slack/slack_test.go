package slack_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/slack"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
)

// canaryKey is a raw key that exists only in the test: Message carries its
// hint, and no byte of what goes to Slack may carry the key itself.
const canaryKey = "sk-proj-CANARYq7Zr2VwX9pLm4Tn8Ys3Kd6Hf1Jb5Gc0Qx9Qa"

func message() notify.Message {
	return notify.Message{
		Incident:    "inc_01JBCANARY",
		Correlation: "corr-7f3a",
		Severity:    "critical",
		State:       "revoked",
		Title:       "Leaked OpenAI key revoked",
		Text:        "Revoked the key found at https://github.com/acme/api/blob/main/app.py#L12",
		Provider:    "openai",
		SecretType:  "openai_api_key",
		Redacted:    secret.Hint(secret.New(canaryKey)),
		Where:       "acme/api: app.py:12",
		WhereURL:    "https://github.com/acme/api/blob/0a1b2c/app.py#L12",
		Actions:     []string{"revoked key key_abc at OpenAI", "rotated secret/apps/api/openai in Vault"},
		Fields:      map[string]string{"environment": "prod", "commit": "0a1b2c"},
		At:          time.Date(2026, 11, 26, 22, 45, 0, 0, time.UTC),
	}
}

type fixture struct {
	emu  *slackemu.Emulator
	hook slackemu.Hook
	url  string
	n    *slack.Notifier
}

func setup(t *testing.T, legacy bool, conf slack.Config) *fixture {
	t.Helper()
	emu := slackemu.New()
	emu.Start()
	t.Cleanup(emu.Close)
	var h slackemu.Hook
	if legacy {
		h = emu.AddLegacyHook("#sec-incidents")
	} else {
		h = emu.AddHook("#sec-incidents")
	}
	u := emu.HookURL(h)
	if conf.WebhookURL == nil {
		conf.WebhookURL = secret.Static(secret.New(u))
	}
	n, err := slack.New(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{emu: emu, hook: h, url: u, n: n}
}

// assertNoLeak checks that s carries neither the webhook URL nor its token
// nor any run of the canary key beyond its public prefix.
func assertNoLeak(t *testing.T, what, s string, f *fixture) {
	t.Helper()
	if f != nil && (strings.Contains(s, f.url) || strings.Contains(s, f.hook.Token) || strings.Contains(s, f.hook.Path())) {
		t.Errorf("%s (%d bytes) carries the webhook URL", what, len(s))
	}
	body := strings.TrimPrefix(canaryKey, "sk-proj-")
	for i := 0; i+8 <= len(body); i++ {
		if strings.Contains(s, body[i:i+8]) {
			t.Fatalf("%s (%d bytes) carries 8 characters of the canary key from its offset %d, at byte %d", what, len(s), i, strings.Index(s, body[i:i+8]))
		}
	}
}

func TestBlockKitContent(t *testing.T) {
	f := setup(t, false, slack.Config{})
	retry, err := f.n.Notify(context.Background(), message())
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	msgs := f.emu.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Channel != "#sec-incidents" {
		t.Errorf("posted to %q", m.Channel)
	}
	if h := m.Header(); h != ":rotating_light: Leaked OpenAI key revoked" {
		t.Errorf("header %q", h)
	}
	want := map[string]string{
		"Provider":    "openai",
		"Secret type": "`openai_api_key`",
		"Key":         "`sk-proj-…x9Qa`", // the hint keeps the last four characters
		"Severity":    "critical",
		"State":       "revoked",
		"Incident":    "`inc_01JBCANARY`",
		"Correlation": "`corr-7f3a`",
		"Where":       "<https://github.com/acme/api/blob/0a1b2c/app.py#L12|acme/api: app.py:12>",
		"environment": "prod",
		"commit":      "0a1b2c",
	}
	for label, v := range want {
		got, ok := m.Field(label)
		if !ok || got != v {
			t.Errorf("field %s = %q (present %v), want %q", label, got, ok, v)
		}
	}
	all := m.AllText()
	for _, s := range []string{
		"Revoked the key found at https://github.com/acme/api/blob/main/app.py#L12", // Message.Text
		"*What was done*\n• revoked key key_abc at OpenAI\n• rotated secret/apps/api/openai in Vault",
		fmt.Sprintf("<!date^%d^", message().At.Unix()), "incident `inc_01JBCANARY`",
	} {
		if !strings.Contains(all, s) {
			t.Errorf("message lacks %q:\n%s", s, all)
		}
	}
	if !strings.Contains(m.Text, "sk-proj-…x9Qa") || !strings.Contains(m.Text, "inc_01JBCANARY") || !strings.Contains(m.Text, "acme/api: app.py:12") {
		t.Errorf("fallback text %q", m.Text)
	}
	// No byte of any request carries the raw key or the webhook URL (the
	// URL is only the destination).
	for _, r := range f.emu.Requests() {
		assertNoLeak(t, "request body", string(r.Body), f)
		for k, vs := range r.Header {
			assertNoLeak(t, "header "+k, strings.Join(vs, ","), f)
		}
	}
	if strings.Contains(string(m.Raw), `"unfurl_links":true`) {
		t.Error("links are unfurled")
	}
}

func TestEscapesIncidentText(t *testing.T) {
	f := setup(t, false, slack.Config{})
	m := message()
	m.Where = "<!channel> & <https://evil.example|click>"
	m.WhereURL = "javascript:alert(1)"
	m.Text = "path <!here>"
	if _, err := f.n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := f.emu.Messages()[0]
	all := got.AllText()
	if strings.Contains(all, "<!channel>") || strings.Contains(all, "<!here>") || strings.Contains(all, "<https://evil") || strings.Contains(all, "javascript:") {
		t.Fatalf("unescaped incident text reached Slack:\n%s", all)
	}
	if w, _ := got.Field("Where"); w != "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" {
		t.Errorf("where = %q", w)
	}
}

func TestChannelOverride(t *testing.T) {
	f := setup(t, true, slack.Config{Username: "Firebreak", IconEmoji: ":fire:", DefaultChannel: "#security"})
	f.emu.AddChannel("#security")
	f.emu.AddChannel("#team-api")
	ctx := context.Background()

	if _, err := f.n.Notify(ctx, message()); err != nil {
		t.Fatal(err)
	}
	m := message()
	m.Channel = "#team-api"
	if _, err := f.n.Notify(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs := f.emu.Messages()
	if len(msgs) != 2 || msgs[0].Channel != "#security" || msgs[1].Channel != "#team-api" {
		t.Fatalf("channels: %+v", msgs)
	}
	if msgs[0].Username != "Firebreak" || msgs[0].IconEmoji != ":fire:" {
		t.Errorf("username/icon: %q %q", msgs[0].Username, msgs[0].IconEmoji)
	}

	// A channel that does not exist: 404 channel_not_found, permanent.
	m.Channel = "#nope"
	retry, err := f.n.Notify(ctx, m)
	assertPermanent(t, f, retry, err, 404, "channel_not_found")
}

func assertPermanent(t *testing.T, f *fixture, retry bool, err error, status int, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want HTTP %d %s", status, text)
	}
	if retry {
		t.Errorf("HTTP %d reported retryable", status)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Status != status {
		t.Fatalf("error %#v, want permanent HTTP %d", err, status)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q lacks Slack's text %q", err, text)
	}
	assertNoLeak(t, "error", err.Error(), f)
	assertNoLeak(t, "error", fmt.Sprintf("%+v %#v", err, err), f)
}

func TestPermanentFailures(t *testing.T) {
	ctx := context.Background()

	t.Run("archived channel 410", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.ArchiveChannel("#sec-incidents")
		retry, err := f.n.Notify(ctx, message())
		assertPermanent(t, f, retry, err, 410, "channel_is_archived")
	})
	t.Run("removed hook 404 no_service", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.RemoveHook(f.hook)
		retry, err := f.n.Notify(ctx, message())
		assertPermanent(t, f, retry, err, 404, "no_service")
	})
	t.Run("wrong token 403 invalid_token", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		bad := strings.TrimSuffix(f.url, f.hook.Token) + "WRONGTOKENWRONGTOKEN0000"
		n, _ := slack.New(slack.Config{WebhookURL: secret.Static(secret.New(bad))})
		retry, err := n.Notify(ctx, message())
		assertPermanent(t, f, retry, err, 403, "invalid_token")
		if strings.Contains(err.Error(), "WRONGTOKEN") {
			t.Errorf("error carries the token: %v", err)
		}
	})
	t.Run("400 invalid_payload", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Status: 400})
		retry, err := f.n.Notify(ctx, message())
		assertPermanent(t, f, retry, err, 400, "invalid_payload")
	})
	t.Run("Slack echoing the URL is scrubbed", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Status: 403, Body: "action_prohibited for " + f.url})
		retry, err := f.n.Notify(ctx, message())
		assertPermanent(t, f, retry, err, 403, "action_prohibited")
	})
	t.Run("not ok on 200", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Status: 200, Body: `{"ok":false,"error":"invalid_blocks"}`})
		retry, err := f.n.Notify(ctx, message())
		if retry || err == nil || !strings.Contains(err.Error(), "invalid_blocks") {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	})
	t.Run("plain http to a non-loopback host", func(t *testing.T) {
		raw := "http://hooks.slack.example/services/T0/B0/SECRETTOKENSECRETTOKEN"
		n, _ := slack.New(slack.Config{WebhookURL: secret.Static(secret.New(raw))})
		retry, err := n.Notify(ctx, message())
		if retry || err == nil || strings.Contains(err.Error(), "SECRETTOKEN") {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	})
	t.Run("unparseable URL", func(t *testing.T) {
		raw := "https://hooks slack/%zz/SECRETTOKENSECRETTOKEN"
		n, _ := slack.New(slack.Config{WebhookURL: secret.Static(secret.New(raw))})
		retry, err := n.Notify(ctx, message())
		if retry || err == nil || strings.Contains(err.Error(), "SECRETTOKEN") {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	})
}

func TestRetryable(t *testing.T) {
	ctx := context.Background()

	t.Run("429 carries Retry-After", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Status: 429, RetryAfter: "7"})
		retry, err := f.n.Notify(ctx, message())
		if !retry || err == nil {
			t.Fatalf("Notify = %v, %v; want retry", retry, err)
		}
		class, after := providers.Classify(err)
		if class != providers.Retryable || after != 7*time.Second {
			t.Fatalf("Classify = %v, %v; want retryable after 7s", class, after)
		}
		if !strings.Contains(err.Error(), "rate_limited") {
			t.Errorf("error %q", err)
		}
		assertNoLeak(t, "error", err.Error(), f)
		// The next attempt goes through.
		if retry, err := f.n.Notify(ctx, message()); err != nil || retry {
			t.Fatalf("after the 429: %v, %v", retry, err)
		}
		if len(f.emu.Messages()) != 1 {
			t.Fatalf("%d messages", len(f.emu.Messages()))
		}
	})
	for _, status := range []int{500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := setup(t, false, slack.Config{})
			f.emu.Inject(emulator.Fault{Count: 1, Status: status})
			retry, err := f.n.Notify(ctx, message())
			var pe *providers.Error
			if !retry || !errors.As(err, &pe) || pe.Class != providers.Retryable || pe.Status != status {
				t.Fatalf("Notify = %v, %#v", retry, err)
			}
			assertNoLeak(t, "error", err.Error(), f)
		})
	}
	t.Run("dropped connection", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Drop: true})
		retry, err := f.n.Notify(ctx, message())
		if !retry || err == nil {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertNoLeak(t, "error", err.Error(), f)
		assertNoLeak(t, "error", fmt.Sprintf("%+v", err), f)
	})
	t.Run("server gone", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Close()
		retry, err := f.n.Notify(ctx, message())
		if !retry || err == nil {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertNoLeak(t, "error", err.Error(), f)
	})
	t.Run("deadline", func(t *testing.T) {
		f := setup(t, false, slack.Config{})
		f.emu.Inject(emulator.Fault{Count: 1, Delay: time.Second, Status: 200})
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		retry, err := f.n.Notify(ctx, message())
		if !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
		assertNoLeak(t, "error", err.Error(), f)
	})
}

type failingSource struct{ err error }

func (s failingSource) Secret(context.Context) (secret.Value, error) { return secret.Value{}, s.err }

func TestSource(t *testing.T) {
	if _, err := slack.New(slack.Config{}); err == nil {
		t.Fatal("New accepted a config without a webhook URL")
	}
	n, _ := slack.New(slack.Config{WebhookURL: failingSource{errors.New("vault: sealed")}})
	retry, err := n.Notify(context.Background(), message())
	if !retry || err == nil || !strings.Contains(err.Error(), "webhook URL") {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	n, _ = slack.New(slack.Config{WebhookURL: failingSource{&providers.Error{Provider: "vault", Class: providers.Permanent, Message: "permission denied"}}})
	if retry, _ := n.Notify(context.Background(), message()); retry {
		t.Fatal("a permanent source failure was reported retryable")
	}
}
