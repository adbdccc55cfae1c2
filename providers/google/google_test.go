package google_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/google"
	"github.com/firebreak-sec/firebreak/providers/google/googleemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: google.Name, Type: google.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

func newClient(emu *googleemu.Emulator, base string) *google.Client {
	tok := emu.AddToken()
	return google.New(google.Config{GeminiURL: base, APIKeysURL: base, AccessToken: secret.Static(secret.New(tok)), PollInterval: time.Millisecond})
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, _ logrus.FieldLogger) providertest.Fixture {
			emu := googleemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			return providertest.Fixture{
				Provider: newClient(emu, base),
				Server:   emu.Server,
				Live: func(t *testing.T) providers.Credential {
					raw, _ := emu.AddKey("proj-1", false)
					return cred(raw)
				},
				Unknown: func(t *testing.T) providers.Credential { return cred(googleemu.NewKeyValue()) },
				IsLive:  emu.Live,
			}
		},
		VerifyMatch: "GET /v1/models", RevokeMatch: "/v2/", NotFoundMatch: "DELETE /v2/", UnknownNotLive: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			raw := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/models", WantStatus: 403, WantBody: "unregistered callers"},
				{Method: http.MethodGet, Path: "/v1/models", Header: http.Header{"Authorization": {"Bearer " + raw}}, WantStatus: 403},
				{Method: http.MethodGet, Path: "/v2/keys:lookupKey?keyString=" + raw, WantStatus: 401, WantBody: "UNAUTHENTICATED"},
				{Method: http.MethodGet, Path: "/v2/keys:lookupKey?keyString=" + raw, Header: http.Header{"X-Goog-Api-Key": {raw}}, WantStatus: 401},
				{Method: http.MethodDelete, Path: "/v2/projects/p/locations/global/keys/k", WantStatus: 401},
			}
		},
	})
}

func TestRestrictedKeyIsLiveAndDeletePollsTheOperation(t *testing.T) {
	emu := googleemu.New()
	base := emu.Start()
	defer emu.Close()
	emu.Steps = 3
	c := newClient(emu, base)
	raw, name := emu.AddKey("proj-9", true)
	v, err := c.Verify(context.Background(), cred(raw))
	if err != nil || !v.Live || v.Facts["restricted"] != "true" {
		t.Fatalf("Verify(restricted) = %+v, %v", v, err)
	}
	r, err := c.Revoke(context.Background(), cred(raw))
	if err != nil || r.Action != "deleted" || r.KeyID != name {
		t.Fatalf("Revoke = %+v, %v", r, err)
	}
	if n := emu.Count("GET /v2/operations/"); n != 3 {
		t.Fatalf("operation polled %d times, want 3", n)
	}
	for _, req := range emu.Requests() {
		if strings.HasPrefix(req.Path, "/v2/") && !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ya29.") {
			t.Fatalf("%s %s without the access token", req.Method, req.Path)
		}
	}
}

func TestNoTokenEscalates(t *testing.T) {
	emu := googleemu.New()
	base := emu.Start()
	defer emu.Close()
	raw, _ := emu.AddKey("p", false)
	r, err := google.New(google.Config{GeminiURL: base, APIKeysURL: base}).Revoke(context.Background(), cred(raw))
	if err != nil || r.Action != providers.ActionEscalated || !emu.Live(raw) {
		t.Fatalf("Revoke without token = %+v, %v", r, err)
	}
}

func TestCreateCopiesRestrictions(t *testing.T) {
	emu := googleemu.New()
	base := emu.Start()
	defer emu.Close()
	c := newClient(emu, base)
	old, _ := emu.AddKey("proj-7", true)
	got, err := c.Create(context.Background(), providers.CreateRequest{Old: cred(old)})
	if err != nil || got.Facts["restrictions_copied"] != "true" || !strings.HasPrefix(got.Credential.KeyID, "projects/proj-7/") {
		t.Fatalf("Create = %+v, %v", got, err)
	}
	name, display, restr, ok := emu.Key(got.Credential.Secret.Reveal())
	if !ok || name != got.Credential.KeyID || !strings.HasSuffix(display, "(rotated)") || !strings.Contains(restr, "maps-backend") {
		t.Fatalf("new key %s %q %s %v", name, display, restr, ok)
	}
	// The new key works where the old one did (restricted the same way), and the old one still exists until revoked.
	if v, err := c.Verify(context.Background(), got.Credential); err != nil || !v.Live || v.Facts["restricted"] != "true" {
		t.Fatalf("Verify(new) = %+v, %v", v, err)
	}
	if !emu.Live(old) {
		t.Fatal("Create touched the old key")
	}
}
