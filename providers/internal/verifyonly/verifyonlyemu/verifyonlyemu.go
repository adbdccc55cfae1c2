// Package verifyonlyemu is the HTTP handling the verify-only providers'
// emulators share (groqemu, perplexityemu, xaiemu, replicateemu, hfemu): an
// emulator.Server (recording, fault injection with the provider's own error
// body, 429 with Retry-After) around one route — the provider's key check —
// that reads the key from the Authorization header, looks it up in a
// keystore.Store and answers in the provider's own shapes; any other route
// answers 404 in the provider's error shape.
//
// What the provider's real API says (the route, statuses, bodies, content
// types, messages) stays in the emulator package, in its API.
package verifyonlyemu

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// API is one provider's key check, as its emulator answers it. Bodies are
// values to encode as JSON.
type API struct {
	// Route is the check's http.ServeMux pattern ("GET /openai/v1/models").
	Route string
	// AuthScheme is the scheme of the Authorization header that carries the
	// key ("Bearer" when empty). The key is what follows "<AuthScheme> ",
	// without surrounding spaces unless Untrimmed (hfemu takes the rest of
	// the header as sent).
	AuthScheme string
	Untrimmed  bool
	// ContentType is the Content-Type of the answers; ErrorContentType that
	// of error answers (status 400 and above), ContentType when empty.
	ContentType, ErrorContentType string
	// ErrorBody renders an injected fault's body (see emulator.New).
	ErrorBody func(status int) (contentType string, body []byte)
	// NotFound is the error body of a request to any other route (404).
	NotFound func(r *http.Request) any
	// Refuse answers a request whose key is missing (raw "": no
	// Authorization header, another scheme, an empty key) or not live (a key
	// never issued, or deleted): the status and the error body.
	Refuse func(raw string) (status int, body any)
	// Answer answers a known, undeleted key: the status and the body (an
	// error body when the status is 400 or more).
	Answer func(r *http.Request, k keystore.Key) (status int, body any)
}

// New returns an unstarted emulator.Server serving a with the keys of keys.
func New(keys *keystore.Store, a API) *emulator.Server {
	scheme := a.AuthScheme
	if scheme == "" {
		scheme = "Bearer"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(a.Route, func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), scheme+" ")
		if !a.Untrimmed {
			raw = strings.TrimSpace(raw)
		}
		if !ok || raw == "" {
			status, body := a.Refuse("")
			a.write(w, status, body)
			return
		}
		k, found := keys.Get(raw)
		if !found || k.Revoked {
			status, body := a.Refuse(raw)
			a.write(w, status, body)
			return
		}
		status, body := a.Answer(r, k)
		a.write(w, status, body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.write(w, http.StatusNotFound, a.NotFound(r))
	})
	return emulator.New(mux, a.ErrorBody)
}

func (a API) write(w http.ResponseWriter, status int, body any) {
	ct := a.ContentType
	if status >= 400 && a.ErrorContentType != "" {
		ct = a.ErrorContentType
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
