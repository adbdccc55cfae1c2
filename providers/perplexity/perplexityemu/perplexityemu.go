// Package perplexityemu emulates Perplexity's POST /chat/completions over real
// HTTP (emulator.Server): a known "Authorization: Bearer pplx-…" key with a
// JSON body naming a model and messages gets a chat completion; a missing,
// unknown or deleted key answers 401, a body without model or messages 400,
// in the OpenAI-compatible error shape.
package perplexityemu

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
	"github.com/firebreak-sec/firebreak/providers/internal/verifyonly/verifyonlyemu"
)

// Emulator is an emulated Perplexity API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	e.Server = verifyonlyemu.New(e.keys, verifyonlyemu.API{
		Route: "POST /chat/completions", AuthScheme: "Bearer", ContentType: "application/json", ErrorBody: ErrorBody,
		NotFound: func(*http.Request) any { return errorDoc("Not Found", "not_found", http.StatusNotFound) },
		Refuse: func(string) (int, any) {
			return http.StatusUnauthorized, errorDoc("Invalid API key", "authentication_error", http.StatusUnauthorized)
		},
		Answer: complete,
	})
	return e
}

// NewKey returns a well-formed key: "pplx-" and 48 characters.
func NewKey() string { return "pplx-" + keystore.RandomAlnum(48) }

// AddKey registers a live key.
func (e *Emulator) AddKey() string {
	raw := NewKey()
	e.keys.Add(keystore.Key{Raw: raw})
	return raw
}

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool { return e.keys.Live(raw) }

// ErrorBody renders a fault in Perplexity's error shape.
func ErrorBody(status int) (string, []byte) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "server_error"
	}
	b, _ := json.Marshal(errorDoc(http.StatusText(status), typ, status))
	return "application/json", b
}

// errorDoc is Perplexity's error shape {"error":{"message","type","code"}},
// the code being the status.
func errorDoc(msg, typ string, code int) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}}
}

// complete answers a live key's chat completion: a body without model or
// messages is refused with 400.
func complete(r *http.Request, _ keystore.Key) (int, any) {
	var req struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Model == "" || len(req.Messages) == 0 {
		return http.StatusBadRequest, errorDoc("model and messages are required", "invalid_request_error", http.StatusBadRequest)
	}
	return http.StatusOK, map[string]any{
		"id": keystore.RandomAlnum(12), "model": req.Model, "object": "chat.completion", "created": time.Now().Unix(),
		"choices": []any{map[string]any{"index": 0, "finish_reason": "length", "message": map[string]any{"role": "assistant", "content": "P"}}},
		"usage":   map[string]any{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	}
}
