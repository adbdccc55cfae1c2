package xai_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/xai"
	"github.com/firebreak-sec/firebreak/providers/xai/xaiemu"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: xai.Name, Type: xai.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := xaiemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: xai.New(xai.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddKey("user-1", "team-1")) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(xaiemu.NewKey()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "GET /v1/api-key", RevokeMatch: "GET /v1/api-key",
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/api-key", WantStatus: 400},
				{Method: http.MethodGet, Path: "/v1/api-key", Header: http.Header{"Authorization": {raw}}, WantStatus: 400},
				{Method: http.MethodGet, Path: "/v1/api-key", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 400},
			}
		},
	})
}

func TestDisabledKeyIsNotLiveAndOwner(t *testing.T) {
	emu := xaiemu.New()
	base := emu.Start()
	defer emu.Close()
	c := xai.New(xai.Config{BaseURL: base})
	raw := emu.AddKey("user-7", "team-9")
	o, err := c.Owner(context.Background(), cred(raw))
	if err != nil || o.User != "user-7" || o.Team != "team-9" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	emu.Disable(raw)
	v, err := c.Verify(context.Background(), cred(raw))
	if err != nil || v.Live {
		t.Fatalf("Verify(disabled) = %+v, %v", v, err)
	}
	r, err := c.Revoke(context.Background(), cred(raw))
	if err != nil || !r.AlreadyRevoked {
		t.Fatalf("Revoke(disabled) = %+v, %v", r, err)
	}
}
