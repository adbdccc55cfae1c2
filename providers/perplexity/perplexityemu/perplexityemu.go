// Package perplexityemu emulates Perplexity's POST /chat/completions over real
// HTTP (emulator.Server): a known "Authorization: Bearer pplx-…" key with a
// JSON body naming a model and messages gets a chat completion; a missing,
// unknown or deleted key answers 401, a body without model or messages 400,
// in the OpenAI-compatible error shape.
package perplexityemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Emulator is an emulated Perplexity API.
type Emulator struct {
	*emulator.Server
	keys *keystore.Store
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{keys: keystore.New()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat/completions", e.complete)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found", "not_found", "")
	})
	e.Server = emulator.New(mux, ErrorBody)
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
	return "application/json", body(http.StatusText(status), typ, status)
}

func body(msg, typ string, code int) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
	return b
}

func writeError(w http.ResponseWriter, status int, msg, typ string, _ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body(msg, typ, status))
}

func (e *Emulator) complete(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !e.keys.Live(strings.TrimSpace(raw)) {
		writeError(w, http.StatusUnauthorized, "Invalid API key", "authentication_error", "")
		return
	}
	var req struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Model == "" || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "model and messages are required", "invalid_request_error", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": keystore.RandomAlnum(12), "model": req.Model, "object": "chat.completion", "created": time.Now().Unix(),
		"choices": []any{map[string]any{"index": 0, "finish_reason": "length", "message": map[string]any{"role": "assistant", "content": "P"}}},
		"usage":   map[string]any{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	})
}
