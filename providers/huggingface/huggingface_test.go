package huggingface_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/huggingface"
	"github.com/firebreak-sec/firebreak/providers/huggingface/hfemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: huggingface.Name, Type: huggingface.TypeUserToken, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := hfemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: huggingface.New(huggingface.Config{BaseURL: base}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddToken("ada", "ada@example.com")) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(hfemu.NewToken()) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "GET /api/whoami-v2", RevokeMatch: "GET /api/whoami-v2",
		NotLiveOn401: true, Escalates: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/api/whoami-v2", WantStatus: 401},
				{Method: http.MethodGet, Path: "/api/whoami-v2", Header: http.Header{"Authorization": {raw}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/api/whoami-v2", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 401},
			}
		},
	})
}

func TestOwnerAndFacts(t *testing.T) {
	emu := hfemu.New()
	base := emu.Start()
	defer emu.Close()
	c := huggingface.New(huggingface.Config{BaseURL: base})
	raw := emu.AddToken("grace", "grace@example.com")
	o, err := c.Owner(context.Background(), cred(raw))
	if err != nil || o.User != "grace" || o.Email != "grace@example.com" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	v, err := c.Verify(context.Background(), cred(raw))
	if err != nil || !v.Live || v.Facts["account"] != "grace" || v.Facts["token_role"] != "write" {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// Once the owner deleted the token by hand, Revoke reports it revoked.
	emu.DeleteToken(raw)
	r, err := c.Revoke(context.Background(), cred(raw))
	if err != nil || !r.AlreadyRevoked || r.Action == providers.ActionEscalated {
		t.Fatalf("Revoke after manual deletion = %+v, %v", r, err)
	}
}
