// Package xaiemu emulates xAI's GET /v1/api-key over real HTTP
// (emulator.Server): a known "Authorization: Bearer xai-…" key gets its own
// record; a missing key answers 400 "No API key provided", an unknown or
// deleted one 400 "Incorrect API key provided: …", xAI's error shape
// {"code","error"}.
package xaiemu

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlyemu"
)

// Emulator is an emulated xAI API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	e.Server = verifyonlyemu.New(e.keys, verifyonlyemu.API{
		Route: "GET /v1/api-key", AuthScheme: "Bearer", ContentType: "application/json", ErrorBody: ErrorBody,
		NotFound: func(*http.Request) any { return errorDoc("Not Found", "Not found") },
		Refuse: func(raw string) (int, any) {
			if raw == "" {
				return http.StatusBadRequest, errorDoc("Client specified an invalid argument", "No API key provided. Please provide an API key in the Authorization header.")
			}
			return http.StatusBadRequest, errorDoc("Client specified an invalid argument",
				"Incorrect API key provided: "+mask(raw)+". You can obtain an API key from https://console.x.ai.")
		},
		Answer: apiKey,
	})
	return e
}

// NewKey returns a well-formed key: "xai-" and 80 characters.
func NewKey() string { return "xai-" + keystore.RandomAlnum(80) }

// AddKey registers a live key of user in team and returns it.
func (e *Emulator) AddKey(user, team string) string {
	raw := NewKey()
	e.keys.Add(keystore.Key{Raw: raw, Name: "firebreak-test", Owner: user, Fields: map[string]string{"team": team}})
	return raw
}

// Disable disables a key, as a person would in the console.
func (e *Emulator) Disable(raw string) {
	e.keys.Update(raw, func(k *keystore.Key) { k.Fields["disabled"] = "true" })
}

// Live reports whether raw authenticates and is enabled.
func (e *Emulator) Live(raw string) bool {
	k, ok := e.keys.Get(raw)
	return ok && !k.Revoked && k.Fields["disabled"] != "true"
}

// ErrorBody renders a fault in xAI's error shape.
func ErrorBody(status int) (string, []byte) {
	code := "Client specified an invalid argument"
	switch {
	case status == http.StatusTooManyRequests:
		code = "Too many requests"
	case status == http.StatusUnauthorized:
		code = "Unauthenticated"
	case status == http.StatusForbidden:
		code = "The caller does not have permission to execute the specified operation"
	case status >= 500:
		code = "Internal error"
	}
	b, _ := json.Marshal(errorDoc(code, http.StatusText(status)))
	return "application/json", b
}

// errorDoc is xAI's error shape {"code","error"}.
func errorDoc(code, msg string) map[string]string {
	return map[string]string{"code": code, "error": msg}
}

func mask(raw string) string {
	if len(raw) < 8 {
		return "***"
	}
	return raw[:2] + "***" + raw[len(raw)-3:]
}

// apiKey answers a known key with its own record (a disabled key still
// authenticates: api_key_disabled says so).
func apiKey(_ *http.Request, k keystore.Key) (int, any) {
	raw := k.Raw
	now := time.Now().UTC().Format(time.RFC3339)
	return http.StatusOK, map[string]any{
		"redacted_api_key": raw[:4] + "****" + raw[len(raw)-4:], "user_id": k.Owner, "name": k.Name,
		"create_time": now, "modify_time": now, "modified_by": k.Owner, "team_id": k.Fields["team"],
		"acls": []string{"api-key:model:*", "api-key:endpoint:*"}, "api_key_id": k.ID,
		"team_blocked": false, "api_key_blocked": false, "api_key_disabled": k.Fields["disabled"] == "true",
	}
}
