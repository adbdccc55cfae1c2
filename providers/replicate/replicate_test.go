package replicate_test

import (
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/replicate"
	"github.com/firebreak-sec/firebreak/providers/replicate/replicateemu"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: replicate.Name, Type: replicate.TypeAPIToken, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := replicateemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: replicate.New(replicate.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddToken("ada")) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(replicateemu.NewToken()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "GET /v1/account", RevokeMatch: "GET /v1/account",
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/account", WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/account", Header: http.Header{"Authorization": {raw}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/account", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 401},
			}
		},
	})
}
