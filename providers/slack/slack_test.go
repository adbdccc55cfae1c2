package slack_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/slack"
	"github.com/firebreak-sec/firebreak/providers/slack/slackapiemu"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: slack.Name, Type: slack.TypeAPIToken, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := slackapiemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: slack.New(slack.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddToken("xoxb-", "bot", "acme")) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(slackapiemu.NewToken("xoxp-")) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "POST /api/auth.test", RevokeMatch: "POST /api/auth.revoke",
		UnknownNotLive: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodPost, Path: "/api/auth.test", WantStatus: 200, WantBody: `"error":"not_authed"`},
				{Method: http.MethodPost, Path: "/api/auth.revoke", WantStatus: 200, WantBody: `"error":"not_authed"`},
				{Method: http.MethodPost, Path: "/api/auth.test", Header: http.Header{"Authorization": {raw}}, WantStatus: 200, WantBody: `"error":"not_authed"`},
			}
		},
	})
}

func TestOkFalseClassification(t *testing.T) {
	emu := slackapiemu.New()
	base := emu.Start()
	defer emu.Close()
	c := slack.New(slack.Config{BaseURL: base})
	raw := emu.AddToken("xoxp-", "ada", "acme")
	for body, want := range map[string]providers.Class{
		`{"ok":false,"error":"internal_error"}`:         providers.Retryable,
		`{"ok":false,"error":"not_allowed_token_type"}`: providers.Permanent,
	} {
		emu.Inject(emulator.Fault{Match: "POST /api/auth.revoke", Count: 1, Status: 200, Body: body})
		_, err := c.Revoke(context.Background(), cred(raw))
		if class, _ := providers.Classify(err); err == nil || class != want {
			t.Errorf("Revoke answered %s = %v (class %v), want %v", body, err, class, want)
		}
	}
	o, err := c.Owner(context.Background(), cred(raw))
	if err != nil || o.User != "ada" || o.Team != "acme" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	w := providers.Credential{Provider: slack.Name, Type: slack.TypeWebhookURL, Secret: secret.New("https://hooks.slack.com/services/T0/B0/abcdefghijklmnopqrstuvwx")}
	r, err := c.Revoke(context.Background(), w)
	if err != nil || r.Action != providers.ActionEscalated {
		t.Fatalf("Revoke(webhook URL) = %+v, %v", r, err)
	}
	providertest.AssertNoSecret(t, w.Secret.Reveal(), r.Detail)
}
