package perplexity_test

import (
	"net/http"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlytest"
	"github.com/firebreak-sec/firebreak/providers/perplexity"
	"github.com/firebreak-sec/firebreak/providers/perplexity/perplexityemu"
)

func TestConformance(t *testing.T) {
	verifyonlytest.Run(t, verifyonlytest.Case[*perplexityemu.Emulator]{
		Provider: perplexity.Name, SecretType: perplexity.TypeAPIKey, Check: "POST /chat/completions", Refused: http.StatusUnauthorized,
		Emulator: perplexityemu.New, Server: func(e *perplexityemu.Emulator) *emulator.Server { return e.Server },
		Client: func(base string) providers.Provider { return perplexity.New(perplexity.Config{BaseURL: base}) },
		AddKey: (*perplexityemu.Emulator).AddKey, NewKey: perplexityemu.NewKey,
	})
}
