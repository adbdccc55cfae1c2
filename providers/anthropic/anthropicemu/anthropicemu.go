// Package anthropicemu emulates the parts of the Claude API Firebreak uses,
// over real HTTP (emulator.Server): GET /v1/models for API keys, and the
// Admin API (GET /v1/organizations/api_keys with limit/after_id/status and
// has_more/first_id/last_id, GET and POST /v1/organizations/api_keys/{id},
// GET /v1/organizations/users/{id}) for admin keys.
//
// Every request needs "x-api-key" (401 authentication_error "x-api-key header
// is required" without it, "invalid x-api-key" for an unknown or inactive key)
// and "anthropic-version" (400 invalid_request_error without it). A plain API
// key on an Admin endpoint gets 403 permission_error; an admin key on
// /v1/models likewise. Errors use {"type":"error","error":{"type","message"},
// "request_id"}; injected 429s say rate_limit_error, 529s overloaded_error.
package anthropicemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Emulator is an emulated Anthropic organization.
type Emulator struct {
	*emulator.Server

	mu     sync.Mutex
	keys   []*key // in creation order
	admins map[string]bool
	users  map[string]User
	seq    int
}

type key struct {
	raw, id, name, workspace, status, createdBy string
	created                                     time.Time
}

// User is an organization member.
type User struct {
	ID, Email, Name string
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{admins: map[string]bool{}, users: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", e.models)
	mux.HandleFunc("GET /v1/organizations/api_keys", e.admin(e.listKeys))
	mux.HandleFunc("GET /v1/organizations/api_keys/{id}", e.admin(e.getKey))
	mux.HandleFunc("POST /v1/organizations/api_keys/{id}", e.admin(e.updateKey))
	mux.HandleFunc("GET /v1/organizations/users/{id}", e.admin(e.getUser))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "Not found")
	})
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// NewKeyValue returns a well-formed API key: sk-ant-api03-, 93 characters, AA.
func NewKeyValue() string { return "sk-ant-api03-" + keystore.RandomFrom(keyAlphabet, 93) + "AA" }

// AddAdminKey registers an admin key and returns it.
func (e *Emulator) AddAdminKey() string {
	raw := "sk-ant-admin01-" + keystore.RandomFrom(keyAlphabet, 93) + "AA"
	e.mu.Lock()
	defer e.mu.Unlock()
	e.admins[raw] = true
	return raw
}

// AddUser registers an organization member.
func (e *Emulator) AddUser(u User) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[u.ID] = u
}

// AddKey creates an active key in workspace, created by user id, and returns
// the raw key and its id.
func (e *Emulator) AddKey(workspace, createdBy string) (raw, id string) {
	return e.AddKeyValue(NewKeyValue(), workspace, createdBy)
}

// AddKeyValue registers raw as an active key.
func (e *Emulator) AddKeyValue(raw, workspace, createdBy string) (string, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	id := fmt.Sprintf("apikey_%04d%s", e.seq, keystore.RandomAlnum(20))
	e.keys = append(e.keys, &key{raw: raw, id: id, name: "key " + strconv.Itoa(e.seq), workspace: workspace,
		status: "active", createdBy: createdBy, created: time.Now().UTC()})
	return raw, id
}

// Status returns a key's status ("" when unknown).
func (e *Emulator) Status(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.keys {
		if k.id == id {
			return k.status
		}
	}
	return ""
}

// Live reports whether raw is an active API key.
func (e *Emulator) Live(raw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.byRaw(raw)
	return k != nil && k.status == "active"
}

func (e *Emulator) byRaw(raw string) *key {
	for _, k := range e.keys {
		if k.raw == raw {
			return k
		}
	}
	return nil
}

// Hint is the partial_key_hint of raw: its first 16 and last 4 characters.
func Hint(raw string) string { return raw[:16] + "..." + raw[len(raw)-4:] }

// ErrorBody renders a fault in Anthropic's error shape.
func ErrorBody(status int) (string, []byte) {
	typ, msg := "invalid_request_error", http.StatusText(status)
	switch {
	case status == http.StatusUnauthorized:
		typ, msg = "authentication_error", "invalid x-api-key"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusNotFound:
		typ = "not_found_error"
	case status == http.StatusTooManyRequests:
		typ, msg = "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
	case status == 529:
		typ, msg = "overloaded_error", "Overloaded"
	case status >= 500:
		typ, msg = "api_error", "Internal server error"
	}
	return "application/json", errorJSON(typ, msg)
}

func errorJSON(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg},
		"request_id": "req_" + keystore.RandomAlnum(24)})
	return b
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_"+keystore.RandomAlnum(24))
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(typ, msg))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// authenticate checks the headers; it returns the key kind ("api", "admin")
// or writes the error and returns "".
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) string {
	raw := r.Header.Get("X-Api-Key")
	if raw == "" {
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return ""
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.admins[raw] {
		return "admin"
	}
	if k := e.byRaw(raw); k != nil && k.status == "active" {
		return "api"
	}
	writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
	return ""
}

func (e *Emulator) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch e.authenticate(w, r) {
		case "":
		case "admin":
			h(w, r)
		default:
			writeError(w, http.StatusForbidden, "permission_error", "This endpoint requires an Admin API key (sk-ant-admin…).")
		}
	}
}

func (e *Emulator) models(w http.ResponseWriter, r *http.Request) {
	switch e.authenticate(w, r) {
	case "":
		return
	case "admin":
		writeError(w, http.StatusForbidden, "permission_error", "Admin API keys cannot be used with this endpoint.")
		return
	}
	writeJSON(w, map[string]any{"data": []any{map[string]any{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
		"created_at": "2025-09-29T00:00:00Z"}}, "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"})
}

func (e *Emulator) keyJSON(k *key) map[string]any {
	var ws any
	if k.workspace != "" {
		ws = k.workspace
	}
	return map[string]any{"id": k.id, "type": "api_key", "name": k.name, "workspace_id": ws,
		"created_at": k.created.Format(time.RFC3339Nano), "created_by": map[string]string{"id": k.createdBy, "type": "user"},
		"partial_key_hint": Hint(k.raw), "status": k.status}
}

func (e *Emulator) listKeys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "limit: Input should be less than or equal to 1000 and greater than or equal to 1")
			return
		}
		limit = v
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var ks []*key
	for _, k := range e.keys {
		if s := q.Get("status"); s != "" && k.status != s {
			continue
		}
		if ws := q.Get("workspace_id"); ws != "" && k.workspace != ws {
			continue
		}
		ks = append(ks, k)
	}
	from := 0
	if after := q.Get("after_id"); after != "" {
		i := sort.Search(len(ks), func(i int) bool { return ks[i].id > after })
		from = i
	}
	to := min(from+limit, len(ks))
	data := []any{}
	for _, k := range ks[from:to] {
		data = append(data, e.keyJSON(k))
	}
	out := map[string]any{"data": data, "has_more": to < len(ks), "first_id": nil, "last_id": nil}
	if to > from {
		out["first_id"], out["last_id"] = ks[from].id, ks[to-1].id
	}
	writeJSON(w, out)
}

func (e *Emulator) findID(w http.ResponseWriter, id string) *key {
	for _, k := range e.keys {
		if k.id == id {
			return k
		}
	}
	writeError(w, http.StatusNotFound, "not_found_error", "API key not found: "+id)
	return nil
}

func (e *Emulator) getKey(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.findID(w, r.PathValue("id")); k != nil {
		writeJSON(w, e.keyJSON(k))
	}
}

func (e *Emulator) updateKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name   *string `json:"name"`
		Status *string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "request body is not valid JSON")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.findID(w, r.PathValue("id"))
	if k == nil {
		return
	}
	if body.Status != nil {
		switch *body.Status {
		case "active", "inactive", "archived":
			if k.status == "archived" && *body.Status != "archived" {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "archived API keys cannot be changed")
				return
			}
			k.status = *body.Status
		default:
			writeError(w, http.StatusBadRequest, "invalid_request_error", "status: Input should be 'active', 'inactive' or 'archived'")
			return
		}
	}
	if body.Name != nil {
		k.name = *body.Name
	}
	writeJSON(w, e.keyJSON(k))
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	u, ok := e.users[r.PathValue("id")]
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found_error", "User not found")
		return
	}
	writeJSON(w, map[string]any{"id": u.ID, "type": "user", "email": u.Email, "name": u.Name, "role": "developer",
		"added_at": "2025-01-01T00:00:00Z"})
}
