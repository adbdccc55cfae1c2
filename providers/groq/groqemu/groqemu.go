// Package groqemu emulates Groq's GET /openai/v1/models over real HTTP
// (emulator.Server): a known "Authorization: Bearer gsk_…" key lists models;
// a missing, unknown or deleted key answers 401 in Groq's OpenAI-compatible
// error shape {"error":{"message","type","code"}}.
package groqemu

import (
	"encoding/json"
	"net/http"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlyemu"
)

// Emulator is an emulated Groq API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	e.Server = verifyonlyemu.New(e.keys, verifyonlyemu.API{
		Route: "GET /openai/v1/models", AuthScheme: "Bearer", ContentType: "application/json", ErrorBody: ErrorBody,
		NotFound: func(r *http.Request) any {
			return errorDoc("Unknown request URL: "+r.Method+" "+r.URL.Path+". Please check the URL for typos, or see the docs at https://console.groq.com/docs/", "invalid_request_error", "unknown_url")
		},
		Refuse: func(string) (int, any) {
			return http.StatusUnauthorized, errorDoc("Invalid API Key", "invalid_request_error", "invalid_api_key")
		},
		Answer: func(*http.Request, keystore.Key) (int, any) {
			return http.StatusOK, map[string]any{"object": "list", "data": []any{
				map[string]any{"id": "llama-3.1-8b-instant", "object": "model", "created": 1693721698, "owned_by": "Meta", "active": true, "context_window": 131072},
			}}
		},
	})
	return e
}

// NewKey returns a well-formed key value: "gsk_" and 52 characters.
func NewKey() string { return "gsk_" + keystore.RandomAlnum(52) }

// AddKey registers a live key.
func (e *Emulator) AddKey() string {
	raw := NewKey()
	e.keys.Add(keystore.Key{Raw: raw})
	return raw
}

// DeleteKey deletes a key, as a person would in the console.
func (e *Emulator) DeleteKey(raw string) { e.keys.Revoke(raw) }

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool { return e.keys.Live(raw) }

// ErrorBody renders a fault in Groq's error shape.
func ErrorBody(status int) (string, []byte) {
	msg, typ, code := http.StatusText(status), "invalid_request_error", ""
	switch {
	case status == http.StatusTooManyRequests:
		msg, typ, code = "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"
	case status == http.StatusUnauthorized:
		code = "invalid_api_key"
		msg = "Invalid API Key"
	case status >= 500:
		typ = "internal_server_error"
	}
	b, _ := json.Marshal(errorDoc(msg, typ, code))
	return "application/json", b
}

// errorDoc is Groq's error shape {"error":{"message","type","code"}}; code is
// left out when empty.
func errorDoc(msg, typ, code string) map[string]any {
	e := map[string]any{"message": msg, "type": typ}
	if code != "" {
		e["code"] = code
	}
	return map[string]any{"error": e}
}
