// Package webhookemu is a receiver of Firebreak's signed webhook deliveries,
// for tests and the demo. It does what the webhook package documentation
// asks of a receiver:
//
//	405 for any method but POST
//	413 for a body over 1 MiB
//	401 when webhook.Verify fails: missing, malformed or wrong signature, or a
//	    timestamp outside the tolerance (stale)
//	400 when the body is not a firebreak.incident.v1 envelope, or the
//	    Firebreak-Delivery header disagrees with the envelope id
//	409 when the envelope id was already accepted (a replay, or a retry of a
//	    delivery that got through)
//	200 {"ok":true,"id":"dlv_…"} otherwise, recording the delivery
//
// Errors are JSON {"error":"…"}. The receiver is an emulator.Server, so tests
// inject 429 (with Retry-After), 5xx, latency or dropped connections with
// Inject, and read raw requests (to replay them) with Requests. Seen ids are
// kept for the receiver's lifetime.
package webhookemu

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook"
)

// maxBody is the largest delivery the receiver accepts.
const maxBody = 1 << 20

// Config configures a Receiver.
type Config struct {
	Secret    []byte           // the shared HMAC key
	Tolerance time.Duration    // webhook.DefaultTolerance when 0
	Now       func() time.Time // the receiver's clock; time.Now when nil
}

// Delivery is an accepted delivery.
type Delivery struct {
	Envelope  webhook.Envelope
	Timestamp time.Time   // from Firebreak-Timestamp
	Header    http.Header // as received
	Body      []byte      // as received
}

// Rejection is a refused delivery.
type Rejection struct {
	Status int
	Reason string
}

// Receiver verifies and records deliveries.
type Receiver struct {
	*emulator.Server
	conf Config

	mu         sync.Mutex
	seen       map[string]bool
	accepted   int
	deliveries []Delivery
	rejections []Rejection
}

// New returns an unstarted Receiver; call Start (or Listen) and point a
// webhook.Notifier at its URL (any path).
func New(c Config) *Receiver {
	r := &Receiver{conf: c, seen: map[string]bool{}}
	if r.conf.Now == nil {
		r.conf.Now = time.Now
	}
	r.Server = emulator.New(http.HandlerFunc(r.serve), func(status int) (string, []byte) {
		b, _ := json.Marshal(map[string]string{"error": http.StatusText(status)})
		return "application/json", b
	})
	return r
}

// Deliveries returns the accepted deliveries, in order: those of the
// requests the server keeps (emulator.Server.Record).
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// Count returns how many deliveries were accepted: Deliveries' length,
// without copying them, unless Record keeps fewer.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted
}

// Messages returns the messages of the accepted deliveries, in order.
func (r *Receiver) Messages() []notify.Message {
	var out []notify.Message
	for _, d := range r.Deliveries() {
		out = append(out, d.Envelope.Message)
	}
	return out
}

// Rejections returns what the handler refused (not injected faults), in order.
func (r *Receiver) Rejections() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Rejection(nil), r.rejections...)
}

func (r *Receiver) reject(w http.ResponseWriter, status int, reason string) {
	r.mu.Lock()
	r.rejections = append(r.rejections, Rejection{Status: status, Reason: reason})
	r.mu.Unlock()
	writeJSON(w, status, map[string]any{"error": reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.reject(w, http.StatusRequestEntityTooLarge, "body over 1 MiB")
		} else {
			r.reject(w, http.StatusBadRequest, "cannot read body")
		}
		return
	}
	if err := webhook.Verify(r.conf.Secret, req.Header, body, r.conf.Now(), r.conf.Tolerance); err != nil {
		r.reject(w, http.StatusUnauthorized, err.Error())
		return
	}
	var env webhook.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		r.reject(w, http.StatusBadRequest, "body is not a JSON envelope")
		return
	}
	if env.Type != webhook.Type || env.ID == "" {
		r.reject(w, http.StatusBadRequest, "not a "+webhook.Type+" envelope")
		return
	}
	if h := req.Header.Get(webhook.HeaderDelivery); h != "" && h != env.ID {
		r.reject(w, http.StatusBadRequest, webhook.HeaderDelivery+" does not match the envelope id")
		return
	}
	sec, _ := strconv.ParseInt(req.Header.Get(webhook.HeaderTimestamp), 10, 64) // Verify checked it
	ts := time.Unix(sec, 0)

	r.mu.Lock()
	if r.seen[env.ID] {
		r.mu.Unlock()
		r.reject(w, http.StatusConflict, "delivery "+env.ID+" was already accepted")
		return
	}
	r.seen[env.ID] = true
	r.accepted++
	if r.Records(req.Method, req.URL.Path) {
		r.deliveries = append(r.deliveries, Delivery{Envelope: env, Timestamp: ts, Header: req.Header.Clone(), Body: body})
	}
	r.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "id": env.ID})
}
