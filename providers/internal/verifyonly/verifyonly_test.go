package verifyonly_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly"
)

func def(owner bool) verifyonly.Def[struct{ Who string }] {
	d := verifyonly.Def[struct{ Who string }]{
		Spec:           providers.Spec{Name: "p", DisplayName: "P", SecretTypes: []string{"p_key"}, Revoke: true, ConsoleURL: "https://p.example/keys"},
		DefaultBaseURL: "https://api.p.example", Method: http.MethodGet, Path: "/whoami", AuthScheme: "Token",
		ErrorMessage: verifyonly.ErrorString, Manual: "delete it", Refused: "refused", Gone: "gone",
		Accepted: func(w struct{ Who string }) providers.VerifyResult {
			return providers.VerifyResult{Live: true, Detail: "as " + w.Who}
		},
	}
	if owner {
		d.Owner = func(w struct{ Who string }) providers.Owner { return providers.Owner{User: w.Who} }
	}
	return d
}

func TestSpecAndPlan(t *testing.T) {
	c := verifyonly.New(def(false), "", nil)
	s := c.Spec()
	if !s.Verify || s.Revoke || s.Owner {
		t.Fatalf("Spec = %+v; want Verify, no Revoke, no Owner", s)
	}
	s.SecretTypes[0] = "changed"
	if c.Spec().SecretTypes[0] != "p_key" {
		t.Fatal("Spec shares its SecretTypes with the caller")
	}
	if !verifyonly.New(def(true), "", nil).Spec().Owner {
		t.Fatal("a Def with Owner: Spec().Owner is false")
	}
	v := secret.New("p_0123456789abcdef")
	calls := c.Plan(providers.OpRevoke, providers.Credential{Secret: v})
	if len(calls) != 2 || calls[0].URL != "https://api.p.example/whoami" {
		t.Fatalf("Plan(revoke) = %+v", calls)
	}
}

func TestAuthSchemeVerifyOwner(t *testing.T) {
	const key = "p_0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Token "+key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"bad token"}`))
			return
		}
		_, _ = w.Write([]byte(`{"Who":"ada"}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	live := providers.Credential{Secret: secret.New(key)}
	dead := providers.Credential{Secret: secret.New("p_fedcba9876543210")}

	c := verifyonly.New(def(true), srv.URL+"/", nil)
	if r, err := c.Verify(ctx, live); err != nil || !r.Live || r.Detail != "as ada" {
		t.Fatalf("Verify(live) = %+v, %v", r, err)
	}
	if r, err := c.Verify(ctx, dead); err != nil || r.Live || r.Detail != "refused" {
		t.Fatalf("Verify(dead) = %+v, %v", r, err)
	}
	if o, err := verifyonly.Owner(ctx, c, live); err != nil || o.User != "ada" {
		t.Fatalf("Owner(live) = %+v, %v", o, err)
	}
	var pe *providers.Error
	if _, err := verifyonly.Owner(ctx, c, dead); !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Message != "gone" {
		t.Fatalf("Owner(dead) error = %#v; want permanent %q", err, "gone")
	}
	if _, err := verifyonly.Owner(ctx, verifyonly.New(def(false), srv.URL, nil), live); !errors.As(err, &pe) || pe.Class != providers.Permanent {
		t.Fatalf("Owner without a Def.Owner = %v; want a permanent error", err)
	}
	if r, err := c.Revoke(ctx, dead); err != nil || !r.AlreadyRevoked {
		t.Fatalf("Revoke(dead) = %+v, %v", r, err)
	}
	if r, err := c.Revoke(ctx, live); err != nil || r.Action != providers.ActionEscalated {
		t.Fatalf("Revoke(live) = %+v, %v", r, err)
	}
}

func TestErrorString(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":"Invalid credentials in Authorization header"}`:                     "Invalid credentials in Authorization header",
		`{"code":"Client specified an invalid argument","error":"Incorrect API key"}`: "Incorrect API key",
		`{"error":{"message":"nested"}}`:                                              "Bad Request",
		`not json`:                                                                    "Bad Request",
	} {
		if got := verifyonly.ErrorString(http.StatusBadRequest, []byte(body)); got != want {
			t.Errorf("ErrorString(%s) = %q, want %q", body, got, want)
		}
	}
}
