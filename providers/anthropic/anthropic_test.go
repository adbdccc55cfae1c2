package anthropic_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/anthropic"
	"github.com/firebreak-sec/firebreak/providers/anthropic/anthropicemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: anthropic.Name, Type: anthropic.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := anthropicemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			ak := emu.AddAdminKey()
			return providertest.Fixture{
				Provider: anthropic.New(anthropic.Config{BaseURL: base, AdminKey: secret.Static(secret.New(ak))}),
				Server:   emu.Server,
				Live: func(t *testing.T) providers.Credential {
					raw, _ := emu.AddKey("wrkspc_1", "user_1")
					return cred(raw)
				},
				Unknown: func(t *testing.T) providers.Credential { return cred(anthropicemu.NewKeyValue()) },
				IsLive:  emu.Live,
			}
		},
		VerifyMatch: "GET /v1/models", RevokeMatch: "/v1/organizations/", NotFoundMatch: "POST /v1/organizations/api_keys/",
		NotLiveOn401: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			v := http.Header{"Anthropic-Version": {anthropic.Version}}
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/models", Header: v, WantStatus: 401, WantBody: "authentication_error"},
				{Method: http.MethodGet, Path: "/v1/models", Header: http.Header{"Authorization": {"Bearer " + raw}, "Anthropic-Version": {anthropic.Version}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/models", Header: http.Header{"X-Api-Key": {raw}}, WantStatus: 400, WantBody: "anthropic-version"},
				{Method: http.MethodGet, Path: "/v1/organizations/api_keys", Header: http.Header{"X-Api-Key": {raw}, "Anthropic-Version": {anthropic.Version}}, WantStatus: 403},
				{Method: http.MethodPost, Path: "/v1/organizations/api_keys/apikey_x", Header: v, Body: `{"status":"inactive"}`, WantStatus: 401},
			}
		},
	})
}

func TestRevokePagesAndDeactivatesOnlyTheMatch(t *testing.T) {
	emu := anthropicemu.New()
	base := emu.Start()
	defer emu.Close()
	ak := emu.AddAdminKey()
	c := anthropic.New(anthropic.Config{BaseURL: base, AdminKey: secret.Static(secret.New(ak)), PageSize: 2})
	var target, targetID string
	var others []string
	for i := range 7 {
		raw, id := emu.AddKey("wrkspc_1", "user_1")
		if i == 5 {
			target, targetID = raw, id
		} else {
			others = append(others, id)
		}
	}
	emu.AddUser(anthropicemu.User{ID: "user_1", Email: "ada@example.com", Name: "Ada"})
	o, err := c.Owner(context.Background(), cred(target))
	if err != nil || o.Email != "ada@example.com" || o.User != "user_1" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	res, err := c.Revoke(context.Background(), cred(target))
	if err != nil || res.KeyID != targetID || res.Action != "deactivated" {
		t.Fatalf("Revoke = %+v, %v", res, err)
	}
	if emu.Status(targetID) != "inactive" {
		t.Fatalf("status %q", emu.Status(targetID))
	}
	for _, id := range others {
		if emu.Status(id) != "active" {
			t.Fatalf("key %s was changed too", id)
		}
	}
	var paged bool
	for _, r := range emu.Requests() {
		if r.Path == "/v1/organizations/api_keys" && strings.Contains(r.Query, "after_id=") {
			paged = true
		}
		if r.Header.Get("Anthropic-Version") != anthropic.Version || r.Header.Get("X-Api-Key") == "" {
			t.Fatalf("%s %s without x-api-key/anthropic-version", r.Method, r.Path)
		}
	}
	if !paged {
		t.Fatal("the key list was never paged with after_id")
	}
}

func TestRevokeWithoutAdminKeyEscalates(t *testing.T) {
	emu := anthropicemu.New()
	base := emu.Start()
	defer emu.Close()
	raw, _ := emu.AddKey("", "user_1")
	c := anthropic.New(anthropic.Config{BaseURL: base})
	res, err := c.Revoke(context.Background(), cred(raw))
	if err != nil || res.Action != providers.ActionEscalated || !strings.Contains(res.Detail, anthropic.ConsoleURL) {
		t.Fatalf("Revoke without admin key = %+v, %v", res, err)
	}
	if !emu.Live(raw) {
		t.Fatal("key changed without an admin key")
	}
}

func TestOverloaded529IsRetryable(t *testing.T) {
	emu := anthropicemu.New()
	base := emu.Start()
	defer emu.Close()
	raw, _ := emu.AddKey("", "u")
	emu.Inject(emulatorFault(529))
	_, err := anthropic.New(anthropic.Config{BaseURL: base}).Verify(context.Background(), cred(raw))
	if class, _ := providers.Classify(err); err == nil || class != providers.Retryable || !strings.Contains(err.Error(), "overloaded_error") {
		t.Fatalf("Verify after 529 = %v", err)
	}
}
