// Package googleemu emulates the Gemini API's model list and the API Keys
// API v2 over real HTTP (emulator.Server), for tests and the demo.
//
//   - GET /v1/models (and /v1beta/models) with "x-goog-api-key" or ?key=:
//     200 {"models":[…]}; no key → 403 PERMISSION_DENIED "Method doesn't
//     allow unregistered callers"; an unknown or deleted key → 400
//     INVALID_ARGUMENT, ErrorInfo reason API_KEY_INVALID; a key restricted to
//     other APIs → 403 PERMISSION_DENIED, reason API_KEY_SERVICE_BLOCKED.
//   - GET /v2/keys:lookupKey?keyString=, GET and DELETE /v2/projects/{p}/
//     locations/global/keys/{k}, GET /v2/operations/{op}: need
//     "Authorization: Bearer <access token>" (401 UNAUTHENTICATED without a
//     known one). lookupKey of an unknown key answers 404 NOT_FOUND (an
//     emulator choice; a deleted key is still found, as it can be restored).
//     DELETE answers a pending Operation that is done after Steps polls
//     (default 1), then the key has deleteTime and no longer authenticates.
//   - POST /v2/projects/{p}/locations/global/keys {"displayName",
//     "restrictions"} creates a key (an Operation, like DELETE);
//     GET …/keys/{k}/keyString returns {"keyString"}.
package googleemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Emulator is an emulated Google.
type Emulator struct {
	*emulator.Server
	// Steps is how many polls an Operation takes to finish.
	Steps int

	mu     sync.Mutex
	keys   map[string]*key // by raw
	tokens map[string]bool
	ops    map[string]*op
}

type key struct {
	raw, name, project, uid string
	displayName             string
	restrictions            json.RawMessage
	restricted              bool
	deleted                 time.Time
}

type op struct {
	name   string
	key    *key
	create bool
	polls  int
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{Steps: 1, keys: map[string]*key{}, tokens: map[string]bool{}, ops: map[string]*op{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", e.models)
	mux.HandleFunc("GET /v1beta/models", e.models)
	mux.HandleFunc("GET /v2/keys:lookupKey", e.auth(e.lookup))
	mux.HandleFunc("GET /v2/projects/{p}/locations/global/keys/{k}", e.auth(e.getKey))
	mux.HandleFunc("DELETE /v2/projects/{p}/locations/global/keys/{k}", e.auth(e.deleteKey))
	mux.HandleFunc("POST /v2/projects/{p}/locations/global/keys", e.auth(e.createKey))
	mux.HandleFunc("GET /v2/projects/{p}/locations/global/keys/{k}/keyString", e.auth(e.keyString))
	mux.HandleFunc("GET /v2/operations/{op}", e.auth(e.getOp))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", "")
	})
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

// NewKeyValue returns a well-formed API key: "AIza" and 35 characters.
func NewKeyValue() string {
	return "AIza" + keystore.RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 35)
}

// AddToken registers an OAuth access token allowed to manage keys.
func (e *Emulator) AddToken() string {
	t := "ya29." + keystore.RandomAlnum(60)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens[t] = true
	return t
}

// AddKey creates a key in project; restricted keys may not call Gemini.
func (e *Emulator) AddKey(project string, restricted bool) (raw, name string) {
	raw = NewKeyValue()
	uid := strings.ToLower(keystore.RandomAlnum(8)) + "-" + strings.ToLower(keystore.RandomAlnum(4))
	name = "projects/" + project + "/locations/global/keys/" + uid
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[raw] = &key{raw: raw, name: name, project: project, uid: uid, restricted: restricted}
	return raw, name
}

// Live reports whether raw authenticates.
func (e *Emulator) Live(raw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[raw]
	return k != nil && k.deleted.IsZero()
}

var statusText = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

func errorJSON(code int, status, msg, reason string) []byte {
	e := map[string]any{"code": code, "message": msg, "status": status}
	if reason != "" {
		e["details"] = []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}}
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

// ErrorBody renders a fault in Google's error shape.
func ErrorBody(status int) (string, []byte) {
	s := statusText[status]
	if s == "" {
		s = "UNKNOWN"
	}
	msg := http.StatusText(status)
	if status == http.StatusTooManyRequests {
		msg = "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'."
	}
	return "application/json; charset=UTF-8", errorJSON(status, s, msg, "")
}

func writeError(w http.ResponseWriter, code int, status, msg, reason string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(errorJSON(code, status, msg, reason))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (e *Emulator) models(w http.ResponseWriter, r *http.Request) {
	raw := r.Header.Get("X-Goog-Api-Key")
	if raw == "" {
		raw = r.URL.Query().Get("key")
	}
	if raw == "" {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "")
		return
	}
	e.mu.Lock()
	k := e.keys[raw]
	e.mu.Unlock()
	switch {
	case k == nil || !k.deleted.IsZero():
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
	case k.restricted:
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1.ModelService.ListModels are blocked.", "API_KEY_SERVICE_BLOCKED")
	default:
		writeJSON(w, map[string]any{"models": []any{map[string]any{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash"}}, "nextPageToken": ""})
	}
}

func (e *Emulator) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		e.mu.Lock()
		known := ok && e.tokens[t]
		e.mu.Unlock()
		if !known {
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "ACCESS_TOKEN_TYPE_UNSUPPORTED")
			return
		}
		h(w, r)
	}
}

func (e *Emulator) lookup(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("keyString")
	e.mu.Lock()
	k := e.keys[raw]
	e.mu.Unlock()
	if raw == "" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "keyString is required", "")
		return
	}
	if k == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "API key not found.", "")
		return
	}
	writeJSON(w, map[string]string{"parent": "projects/" + k.project + "/locations/global", "name": k.name})
}

func (e *Emulator) byName(r *http.Request) *key {
	name := "projects/" + r.PathValue("p") + "/locations/global/keys/" + r.PathValue("k")
	for _, k := range e.keys {
		if k.name == name {
			return k
		}
	}
	return nil
}

func keyJSON(k *key) map[string]any {
	dn := k.displayName
	if dn == "" {
		dn = "firebreak test key"
	}
	out := map[string]any{"name": k.name, "uid": k.uid, "displayName": dn, "createTime": "2025-01-01T00:00:00Z",
		"etag": "W/\"" + k.uid + "\""}
	if len(k.restrictions) > 0 {
		out["restrictions"] = k.restrictions
	} else if k.restricted {
		out["restrictions"] = json.RawMessage(`{"apiTargets":[{"service":"maps-backend.googleapis.com"}]}`)
	}
	if !k.deleted.IsZero() {
		out["deleteTime"] = k.deleted.Format(time.RFC3339Nano)
	}
	return out
}

func (e *Emulator) getKey(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.byName(r)
	if k == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Key not found.", "")
		return
	}
	writeJSON(w, keyJSON(k))
}

func (e *Emulator) deleteKey(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.byName(r)
	if k == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Key not found.", "")
		return
	}
	if !k.deleted.IsZero() {
		writeError(w, http.StatusBadRequest, "FAILED_PRECONDITION", "Key is already deleted.", "")
		return
	}
	o := &op{name: fmt.Sprintf("operations/akmf.p7-%s", keystore.RandomAlnum(20)), key: k}
	e.ops[strings.TrimPrefix(o.name, "operations/")] = o
	writeJSON(w, map[string]any{"name": o.name, "done": false})
}

func (e *Emulator) getOp(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.ops[r.PathValue("op")]
	if o == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Operation not found.", "")
		return
	}
	o.polls++
	if o.polls < e.Steps {
		writeJSON(w, map[string]any{"name": o.name, "done": false})
		return
	}
	if o.create {
		e.keys[o.key.raw] = o.key
	} else if o.key.deleted.IsZero() {
		o.key.deleted = time.Now().UTC()
	}
	resp := keyJSON(o.key)
	resp["@type"] = "type.googleapis.com/google.api.apikeys.v2.Key"
	writeJSON(w, map[string]any{"name": o.name, "done": true, "response": resp})
}

// Key returns the name, display name and restrictions (JSON) of the key
// whose value is raw.
func (e *Emulator) Key(raw string) (name, displayName string, restrictions string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[raw]
	if k == nil {
		return "", "", "", false
	}
	r := string(k.restrictions)
	if r == "" && k.restricted {
		r = `{"apiTargets":[{"service":"maps-backend.googleapis.com"}]}`
	}
	return k.name, k.displayName, r, true
}

func (e *Emulator) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DisplayName  string          `json:"displayName"`
		Restrictions json.RawMessage `json:"restrictions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.", "")
		return
	}
	uid := strings.ToLower(keystore.RandomAlnum(8)) + "-" + strings.ToLower(keystore.RandomAlnum(4))
	k := &key{raw: NewKeyValue(), project: r.PathValue("p"), uid: uid, displayName: in.DisplayName, restrictions: in.Restrictions,
		name: "projects/" + r.PathValue("p") + "/locations/global/keys/" + uid}
	if len(in.Restrictions) > 0 && string(in.Restrictions) != "null" {
		k.restricted = !strings.Contains(string(in.Restrictions), "generativelanguage.googleapis.com")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := &op{name: "operations/akmf.p7-" + keystore.RandomAlnum(20), key: k, create: true}
	e.ops[strings.TrimPrefix(o.name, "operations/")] = o
	writeJSON(w, map[string]any{"name": o.name, "done": false})
}

func (e *Emulator) keyString(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.byName(r)
	if k == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Key not found.", "")
		return
	}
	writeJSON(w, map[string]string{"keyString": k.raw})
}
