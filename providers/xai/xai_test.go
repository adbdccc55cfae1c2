package xai_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlytest"
	"github.com/firebreak-sec/firebreak/providers/xai"
	"github.com/firebreak-sec/firebreak/providers/xai/xaiemu"
)

// suite: xAI refuses a request without its bearer key with 400, not 401.
func suite() verifyonlytest.Case[*xaiemu.Emulator] {
	return verifyonlytest.Case[*xaiemu.Emulator]{
		Provider: xai.Name, SecretType: xai.TypeAPIKey, Check: "GET /v1/api-key", Refused: http.StatusBadRequest,
		Emulator: xaiemu.New, Server: func(e *xaiemu.Emulator) *emulator.Server { return e.Server },
		Client: func(base string) providers.Provider { return xai.New(xai.Config{BaseURL: base}) },
		AddKey: func(e *xaiemu.Emulator) string { return e.AddKey("user-1", "team-1") }, NewKey: xaiemu.NewKey,
	}
}

func TestConformance(t *testing.T) { verifyonlytest.Run(t, suite()) }

func TestDisabledKeyIsNotLiveAndOwner(t *testing.T) {
	emu := xaiemu.New()
	base := emu.Start()
	defer emu.Close()
	c := xai.New(xai.Config{BaseURL: base})
	raw := emu.AddKey("user-7", "team-9")
	o, err := c.Owner(context.Background(), suite().Cred(raw))
	if err != nil || o.User != "user-7" || o.Team != "team-9" {
		t.Fatalf("Owner = %+v, %v", o, err)
	}
	emu.Disable(raw)
	v, err := c.Verify(context.Background(), suite().Cred(raw))
	if err != nil || v.Live {
		t.Fatalf("Verify(disabled) = %+v, %v", v, err)
	}
	r, err := c.Revoke(context.Background(), suite().Cred(raw))
	if err != nil || !r.AlreadyRevoked {
		t.Fatalf("Revoke(disabled) = %+v, %v", r, err)
	}
}
