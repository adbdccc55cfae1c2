// Package replicateemu emulates Replicate's GET /v1/account over real HTTP
// (emulator.Server): a known "Authorization: Bearer r8_…" token gets its
// account; a missing, unknown or disabled one answers 401 with Replicate's
// problem document {"title","detail","status"}.
package replicateemu

import (
	"encoding/json"
	"net/http"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlyemu"
)

// Emulator is an emulated Replicate API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	e.Server = verifyonlyemu.New(e.keys, verifyonlyemu.API{
		Route: "GET /v1/account", AuthScheme: "Bearer", ErrorBody: ErrorBody,
		ContentType: "application/json", ErrorContentType: "application/problem+json",
		NotFound: func(*http.Request) any { return problem(http.StatusNotFound, "Not found", "") },
		Refuse: func(string) (int, any) {
			return http.StatusUnauthorized, problem(http.StatusUnauthorized, "Unauthenticated", "You did not pass a valid authentication token")
		},
		Answer: func(_ *http.Request, k keystore.Key) (int, any) {
			return http.StatusOK, map[string]any{"type": "user", "username": k.Owner, "name": k.Owner,
				"github_url": "https://github.com/" + k.Owner}
		},
	})
	return e
}

// NewToken returns a well-formed token: "r8_" and 37 characters.
func NewToken() string { return "r8_" + keystore.RandomAlnum(37) }

// AddToken registers a live token of username.
func (e *Emulator) AddToken(username string) string {
	raw := NewToken()
	e.keys.Add(keystore.Key{Raw: raw, Owner: username})
	return raw
}

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool { return e.keys.Live(raw) }

// ErrorBody renders a fault as Replicate's problem document.
func ErrorBody(status int) (string, []byte) {
	b, _ := json.Marshal(problem(status, http.StatusText(status), http.StatusText(status)))
	return "application/problem+json", b
}

// problem is Replicate's problem document {"title","detail","status"}.
func problem(status int, title, detail string) map[string]any {
	return map[string]any{"title": title, "detail": detail, "status": status}
}
