package perplexity_test

import (
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/perplexity"
	"github.com/firebreak-sec/firebreak/providers/perplexity/perplexityemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: perplexity.Name, Type: perplexity.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := perplexityemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: perplexity.New(perplexity.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddKey()) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(perplexityemu.NewKey()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "POST /chat/completions", RevokeMatch: "POST /chat/completions",
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodPost, Path: "/chat/completions", WantStatus: 401},
				{Method: http.MethodPost, Path: "/chat/completions", Header: http.Header{"Authorization": {raw}}, WantStatus: 401},
				{Method: http.MethodPost, Path: "/chat/completions", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 401},
			}
		},
	})
}
