// Package hfemu emulates the Hugging Face Hub's GET /api/whoami-v2 over real
// HTTP (emulator.Server): "Authorization: Bearer hf_…" with a known token
// answers the account JSON; no token or an unknown or deleted one answers 401
// {"error": "…"}, the Hub's error shape. Injected faults use the same shape.
package hfemu

import (
	"encoding/json"
	"net/http"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlyemu"
)

// Emulator is an emulated Hub.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	e.Server = verifyonlyemu.New(e.keys, verifyonlyemu.API{
		Route: "GET /api/whoami-v2", AuthScheme: "Bearer", Untrimmed: true, ContentType: "application/json; charset=utf-8", ErrorBody: ErrorBody,
		NotFound: func(*http.Request) any { return errorDoc("Not Found") },
		Refuse: func(raw string) (int, any) {
			if raw == "" {
				return http.StatusUnauthorized, errorDoc("Invalid username or password.")
			}
			return http.StatusUnauthorized, errorDoc("Invalid credentials in Authorization header")
		},
		Answer: func(_ *http.Request, k keystore.Key) (int, any) {
			return http.StatusOK, map[string]any{
				"type": "user", "id": k.ID, "name": k.Owner, "fullname": k.Owner, "email": k.Email, "emailVerified": true,
				"isPro": false, "orgs": []any{},
				"auth": map[string]any{"type": "access_token", "accessToken": map[string]any{"displayName": k.Name, "role": "write"}},
			}
		},
	})
	return e
}

// NewToken returns a well-formed token value: "hf_" and 34 letters.
func NewToken() string {
	return "hf_" + keystore.RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)
}

// AddToken registers a live token of user (with email) and returns it.
func (e *Emulator) AddToken(user, email string) string {
	raw := NewToken()
	e.keys.Add(keystore.Key{Raw: raw, Name: "firebreak-test", Owner: user, Email: email})
	return raw
}

// DeleteToken deletes a token, as its owner would in the settings page.
func (e *Emulator) DeleteToken(raw string) { e.keys.Revoke(raw) }

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool { return e.keys.Live(raw) }

// ErrorBody renders a fault in the Hub's error shape.
func ErrorBody(status int) (string, []byte) {
	msg := http.StatusText(status)
	if status == http.StatusTooManyRequests {
		msg = "You have exceeded our hourly quotas for action: api. We invite you to retry later."
	}
	b, _ := json.Marshal(errorDoc(msg))
	return "application/json; charset=utf-8", b
}

// errorDoc is the Hub's error shape {"error": "…"}.
func errorDoc(msg string) map[string]string { return map[string]string{"error": msg} }
