package groq_test

import (
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/groq"
	"github.com/firebreak-sec/firebreak/providers/groq/groqemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: groq.Name, Type: groq.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := groqemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: groq.New(groq.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddKey()) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(groqemu.NewKey()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "GET /openai/v1/models", RevokeMatch: "GET /openai/v1/models",
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/openai/v1/models", WantStatus: 401},
				{Method: http.MethodGet, Path: "/openai/v1/models", Header: http.Header{"Authorization": {raw}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/openai/v1/models", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 401},
			}
		},
	})
}
