package replicate_test

import (
	"net/http"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlytest"
	"github.com/firebreak-sec/firebreak/providers/replicate"
	"github.com/firebreak-sec/firebreak/providers/replicate/replicateemu"
)

func TestConformance(t *testing.T) {
	verifyonlytest.Run(t, verifyonlytest.Case[*replicateemu.Emulator]{
		Provider: replicate.Name, SecretType: replicate.TypeAPIToken, Check: "GET /v1/account", Refused: http.StatusUnauthorized,
		Emulator: replicateemu.New, Server: func(e *replicateemu.Emulator) *emulator.Server { return e.Server },
		Client: func(base string) providers.Provider { return replicate.New(replicate.Config{BaseURL: base}) },
		AddKey: func(e *replicateemu.Emulator) string { return e.AddToken("ada") }, NewKey: replicateemu.NewToken,
	})
}
