// Package replicateemu emulates Replicate's GET /v1/account over real HTTP
// (emulator.Server): a known "Authorization: Bearer r8_…" token gets its
// account; a missing, unknown or disabled one answers 401 with Replicate's
// problem document {"title","detail","status"}.
package replicateemu

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Emulator is an emulated Replicate API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/account", e.account)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeProblem(w, http.StatusNotFound, "Not found", "") })
	e.Server = emulator.New(mux, ErrorBody)
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
	b, _ := json.Marshal(map[string]any{"title": http.StatusText(status), "detail": http.StatusText(status), "status": status})
	return "application/problem+json", b
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "detail": detail, "status": status})
}

func (e *Emulator) account(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	k, found := e.keys.Get(strings.TrimSpace(raw))
	if !ok || !found || k.Revoked {
		writeProblem(w, http.StatusUnauthorized, "Unauthenticated", "You did not pass a valid authentication token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "user", "username": k.Owner, "name": k.Owner,
		"github_url": "https://github.com/" + k.Owner})
}
