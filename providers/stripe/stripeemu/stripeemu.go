// Package stripeemu emulates the Stripe API calls Firebreak makes, over real
// HTTP (emulator.Server):
//
//   - GET /v1/charges: "Authorization: Bearer <key>" (or Basic auth with the
//     key as user name); 401 "You did not provide an API key…" without one,
//     401 "Invalid API Key provided: sk_live_****abcd" for an unknown key,
//     401 "Expired API Key provided" for an expired one; 403 "does not have
//     the required permissions" for a restricted key without charges read.
//   - GET /v2/iam/api_keys (limit, include_expired, page; next_page_url),
//     POST /v2/iam/api_keys/{id}/expire: need a secret key (or a restricted
//     key with API keys write) and a Stripe-Version header (400 without).
//     WithoutV2 makes them 404, as for an account without v2 API keys.
//
// Errors use {"error":{"type","code","message","doc_url"}}.
package stripeemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Account is the emulated account id.
const Account = "acct_1FirebreakEmu"

// Emulator is an emulated Stripe account.
type Emulator struct {
	*emulator.Server
	// WithoutV2 answers 404 on the v2 API keys endpoints.
	WithoutV2 bool

	mu   sync.Mutex
	keys []*key
}

type key struct {
	raw, id, typ, status string
	canReadCharges       bool
	canManageKeys        bool
	created              time.Time
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/charges", e.charges)
	mux.HandleFunc("GET /v2/iam/api_keys", e.v2(e.list))
	mux.HandleFunc("POST /v2/iam/api_keys/{id}/expire", e.v2(e.expire))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").")
	})
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

// NewKeyValue returns a well-formed key with prefix ("sk_live_", "rk_live_").
func NewKeyValue(prefix string) string { return prefix + "51Fire" + keystore.RandomAlnum(93) }

// AddSecretKey creates an active secret key.
func (e *Emulator) AddSecretKey() string { return e.add("sk_live_", "secret_key", true, true) }

// AddRestrictedKey creates an active restricted key with the given permissions.
func (e *Emulator) AddRestrictedKey(readCharges, manageKeys bool) string {
	return e.add("rk_live_", "restricted_key", readCharges, manageKeys)
}

func (e *Emulator) add(prefix, typ string, charges, manage bool) string {
	raw := NewKeyValue(prefix)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = append(e.keys, &key{raw: raw, id: fmt.Sprintf("apikey_%04d%s", len(e.keys)+1, keystore.RandomAlnum(16)), typ: typ, status: "active",
		canReadCharges: charges, canManageKeys: manage, created: time.Now().UTC()})
	return raw
}

// Live reports whether raw is an active key.
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

func redact(raw string) string {
	i := strings.Index(raw[3:], "_") + 4 // after "sk_live_"
	return raw[:i] + "..." + raw[len(raw)-4:]
}

func mask(raw string) string {
	i := strings.Index(raw[3:], "_") + 4
	return raw[:i] + "*********" + raw[len(raw)-4:]
}

func errorJSON(typ, code, msg string) []byte {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://docs.stripe.com/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

// ErrorBody renders a fault in Stripe's error shape.
func ErrorBody(status int) (string, []byte) {
	typ, code, msg := "invalid_request_error", "", http.StatusText(status)
	switch {
	case status == http.StatusTooManyRequests:
		code, msg = "rate_limit", "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."
	case status >= 500:
		typ, msg = "api_error", "An unknown error occurred"
	case status == http.StatusUnauthorized:
		msg = "Authentication failed"
	}
	return "application/json", errorJSON(typ, code, msg)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_"+keystore.RandomAlnum(14))
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(typ, code, msg))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// authenticate returns the key of the request or writes the 401.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) *key {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		if b, ok2 := strings.CutPrefix(h, "Basic "); ok2 {
			if dec, err := base64.StdEncoding.DecodeString(b); err == nil {
				raw, _, _ = strings.Cut(string(dec), ":")
				ok = true
			}
		}
	}
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
		return nil
	}
	e.mu.Lock()
	k := e.byRaw(raw)
	e.mu.Unlock()
	switch {
	case k == nil:
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "api_key_invalid", "Invalid API Key provided: "+mask(raw))
		return nil
	case k.status != "active":
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "api_key_expired", "Expired API Key provided: "+mask(raw))
		return nil
	}
	return k
}

func (e *Emulator) charges(w http.ResponseWriter, r *http.Request) {
	k := e.authenticate(w, r)
	if k == nil {
		return
	}
	if !k.canReadCharges {
		writeError(w, http.StatusForbidden, "invalid_request_error", "", fmt.Sprintf("The provided key '%s' does not have the required permissions for this endpoint on account '%s'. Having the 'rak_charge_read' permission would allow this request to continue.", mask(k.raw), Account))
		return
	}
	writeJSON(w, map[string]any{"object": "list", "url": "/v1/charges", "has_more": false, "data": []any{}})
}

func (e *Emulator) v2(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := e.authenticate(w, r)
		if k == nil {
			return
		}
		if r.Header.Get("Stripe-Version") == "" {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "stripe_version_required", "API v2 requests require a Stripe-Version header.")
			return
		}
		if e.WithoutV2 {
			writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").")
			return
		}
		if !k.canManageKeys {
			writeError(w, http.StatusForbidden, "invalid_request_error", "", "The provided key does not have the required permissions for this endpoint.")
			return
		}
		h(w, r)
	}
}

func keyJSON(k *key) map[string]any {
	return map[string]any{"id": k.id, "object": "v2.iam.api_key", "type": k.typ, "status": k.status, "name": k.typ,
		"created": k.created.Format(time.RFC3339), "expires_at": nil, "livemode": true, "ip_allowlist": []string{},
		"secret_key": map[string]any{"secret_token_redacted": redact(k.raw)}}
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v >= 1 && v <= 100 {
			limit = v
		}
	}
	from, _ := strconv.Atoi(q.Get("page"))
	e.mu.Lock()
	var ks []*key
	for _, k := range e.keys {
		if k.status == "active" || q.Get("include_expired") == "true" {
			ks = append(ks, k)
		}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].id < ks[j].id })
	from = min(max(from, 0), len(ks))
	to := min(from+limit, len(ks))
	data := []any{}
	for _, k := range ks[from:to] {
		data = append(data, keyJSON(k))
	}
	e.mu.Unlock()
	var next any
	if to < len(ks) {
		v := q
		v.Set("page", strconv.Itoa(to))
		next = "/v2/iam/api_keys?" + v.Encode()
	}
	writeJSON(w, map[string]any{"data": data, "next_page_url": next, "previous_page_url": nil})
}

func (e *Emulator) expire(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.keys {
		if k.id == r.PathValue("id") {
			k.status = "expired"
			writeJSON(w, keyJSON(k))
			return
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such API key: '"+r.PathValue("id")+"'")
}
