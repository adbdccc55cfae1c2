package groq_test

import (
	"net/http"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/groq"
	"github.com/firebreak-sec/firebreak/providers/groq/groqemu"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlytest"
)

func TestConformance(t *testing.T) {
	verifyonlytest.Run(t, verifyonlytest.Case[*groqemu.Emulator]{
		Provider: groq.Name, SecretType: groq.TypeAPIKey, Check: "GET /openai/v1/models", Refused: http.StatusUnauthorized,
		Emulator: groqemu.New, Server: func(e *groqemu.Emulator) *emulator.Server { return e.Server },
		Client: func(base string) providers.Provider { return groq.New(groq.Config{BaseURL: base}) },
		AddKey: (*groqemu.Emulator).AddKey, NewKey: groqemu.NewKey,
	})
}
