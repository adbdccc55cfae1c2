package huggingface_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/huggingface"
	"github.com/firebreak-sec/firebreak/providers/huggingface/hfemu"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlytest"
)

func suite() verifyonlytest.Case[*hfemu.Emulator] {
	return verifyonlytest.Case[*hfemu.Emulator]{
		Provider: huggingface.Name, SecretType: huggingface.TypeUserToken, Check: "GET /api/whoami-v2", Refused: http.StatusUnauthorized,
		Emulator: hfemu.New, Server: func(e *hfemu.Emulator) *emulator.Server { return e.Server },
		Client: func(base string) providers.Provider { return huggingface.New(huggingface.Config{BaseURL: base}) },
		AddKey: func(e *hfemu.Emulator) string { return e.AddToken("ada", "ada@example.com") }, NewKey: hfemu.NewToken,
	}
}

func TestConformance(t *testing.T) { verifyonlytest.Run(t, suite()) }

func TestOwnerAndFacts(t *testing.T) {
	emu := hfemu.New()
	base := emu.Start()
	defer emu.Close()
	c := huggingface.New(huggingface.Config{BaseURL: base})
	raw := emu.AddToken("grace", "grace@example.com")
	o, err := c.Owner(context.Background(), suite().Cred(raw))
	if err != nil || o.User != "grace" || o.Email != "grace@example.com" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	v, err := c.Verify(context.Background(), suite().Cred(raw))
	if err != nil || !v.Live || v.Facts["account"] != "grace" || v.Facts["token_role"] != "write" {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// Once the owner deleted the token by hand, Revoke reports it revoked.
	emu.DeleteToken(raw)
	r, err := c.Revoke(context.Background(), suite().Cred(raw))
	if err != nil || !r.AlreadyRevoked || r.Action == providers.ActionEscalated {
		t.Fatalf("Revoke after manual deletion = %+v, %v", r, err)
	}
	// Nor does the Hub say whose a deleted token was.
	if _, err := c.Owner(context.Background(), suite().Cred(raw)); err == nil {
		t.Fatal("Owner of a deleted token: no error")
	}
}
