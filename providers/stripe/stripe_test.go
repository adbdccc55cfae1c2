package stripe_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/stripe"
	"github.com/firebreak-sec/firebreak/providers/stripe/stripeemu"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: stripe.Name, Type: stripe.TypeSecretKey, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := stripeemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			mgmt := emu.AddRestrictedKey(false, true)
			return providertest.Fixture{
				Provider: stripe.New(stripe.Config{BaseURL: base, ManagementKey: secret.Static(secret.New(mgmt))}),
				Server:   emu.Server,
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddSecretKey()) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(stripeemu.NewKeyValue("sk_live_")) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch: "GET /v1/charges", RevokeMatch: "/v2/", NotFoundMatch: "POST /v2/iam/api_keys/",
		NotLiveOn401: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/charges", WantStatus: 401, WantBody: "did not provide an API key"},
				{Method: http.MethodGet, Path: "/v1/charges", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/v2/iam/api_keys", WantStatus: 401},
				{Method: http.MethodGet, Path: "/v2/iam/api_keys", Header: http.Header{"Authorization": {"Bearer " + raw}}, WantStatus: 400, WantBody: "Stripe-Version"},
			}
		},
	})
}

func TestRestrictedKeyAndSelfExpiry(t *testing.T) {
	emu := stripeemu.New()
	base := emu.Start()
	defer emu.Close()
	for range 25 { // more than one page
		emu.AddSecretKey()
	}
	rk := emu.AddRestrictedKey(false, false)
	c := stripe.New(stripe.Config{BaseURL: base})
	v, err := c.Verify(context.Background(), cred(rk))
	if err != nil || !v.Live || v.Facts["restricted"] != "true" {
		t.Fatalf("Verify(restricted) = %+v, %v", v, err)
	}
	// Without a management key a restricted key cannot manage keys: escalate.
	r, err := c.Revoke(context.Background(), cred(rk))
	if err != nil || r.Action != providers.ActionEscalated || !emu.Live(rk) {
		t.Fatalf("Revoke(restricted, no management key) = %+v, %v", r, err)
	}
	// A leaked full secret key expires itself, found on the second page.
	sk := emu.AddSecretKey()
	r, err = c.Revoke(context.Background(), cred(sk))
	if err != nil || r.Action != "expired" || emu.Live(sk) {
		t.Fatalf("Revoke(secret key) = %+v, %v", r, err)
	}
	if n := emu.Count("GET /v2/iam/api_keys"); n < 2 {
		t.Fatalf("key list fetched %d times; want the second page followed", n)
	}
}

func TestNoV2Escalates(t *testing.T) {
	emu := stripeemu.New()
	base := emu.Start()
	defer emu.Close()
	emu.WithoutV2 = true
	sk := emu.AddSecretKey()
	r, err := stripe.New(stripe.Config{BaseURL: base}).Revoke(context.Background(), cred(sk))
	if err != nil || r.Action != providers.ActionEscalated || !emu.Live(sk) {
		t.Fatalf("Revoke without v2 = %+v, %v", r, err)
	}
}
