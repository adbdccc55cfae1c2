// Package pagerdutyemu emulates the PagerDuty Events API v2 endpoint
// (POST /v2/enqueue) over real HTTP (emulator.Server). It validates events as
// the API does — a 32-character routing key of a known integration, an
// event_action of trigger/acknowledge/resolve, a dedup_key for acknowledge
// and resolve, a payload with summary, source and a valid severity for
// trigger — answering 400 {"status":"invalid event","message":"Event object
// is invalid","errors":[…]}; otherwise 202 {"status":"success","message":
// "Event processed","dedup_key"}. It keeps alerts by dedup key: a trigger
// opens (or adds to) an alert, resolve closes it.
package pagerdutyemu

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Alert is the state of one dedup key on one service.
type Alert struct {
	Service  string
	DedupKey string
	Status   string // triggered | acknowledged | resolved
	Summary  string
	Severity string
	Details  map[string]string
	Events   int
}

// Emulator is an emulated Events API.
type Emulator struct {
	*emulator.Server

	mu       sync.Mutex
	services map[string]string // routing key → service name
	alerts   map[string]*Alert // service/dedup → alert
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{services: map[string]string{}, alerts: map[string]*Alert{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", e.enqueue)
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

// AddService registers a service and returns its integration (routing) key.
func (e *Emulator) AddService(name string) string {
	rk := keystore.RandomFrom("0123456789abcdef", 32)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.services[rk] = name
	return rk
}

// EnqueueURL is the endpoint URL once started.
func (e *Emulator) EnqueueURL() string { return e.URL() + "/v2/enqueue" }

// Alert returns the alert of dedup key on service.
func (e *Emulator) Alert(service, dedup string) (Alert, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.alerts[service+"/"+dedup]
	if !ok {
		return Alert{}, false
	}
	return *a, true
}

// ErrorBody renders a fault as the Events API does.
func ErrorBody(status int) (string, []byte) {
	b, _ := json.Marshal(map[string]any{"status": http.StatusText(status), "message": http.StatusText(status)})
	return "application/json", b
}

func invalid(w http.ResponseWriter, errs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
}

func (e *Emulator) enqueue(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary       string            `json:"summary"`
			Source        string            `json:"source"`
			Severity      string            `json:"severity"`
			CustomDetails map[string]string `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		invalid(w, "Event object is not valid JSON")
		return
	}
	var errs []string
	if len(ev.RoutingKey) != 32 {
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	switch ev.EventAction {
	case "trigger":
		if ev.Payload == nil {
			errs = append(errs, "'payload' is missing or blank")
		} else {
			if ev.Payload.Summary == "" || len(ev.Payload.Summary) > 1024 {
				errs = append(errs, "'payload.summary' is missing, blank or longer than 1024 characters")
			}
			if ev.Payload.Source == "" {
				errs = append(errs, "'payload.source' is missing or blank")
			}
			switch ev.Payload.Severity {
			case "critical", "error", "warning", "info":
			default:
				errs = append(errs, "'payload.severity' must be one of critical, error, warning, info")
			}
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' must be trigger, acknowledge or resolve")
	}
	if len(errs) > 0 {
		invalid(w, errs...)
		return
	}
	e.mu.Lock()
	svc, ok := e.services[ev.RoutingKey]
	if !ok {
		e.mu.Unlock()
		invalid(w, "Invalid routing key")
		return
	}
	dedup := ev.DedupKey
	if dedup == "" {
		dedup = keystore.RandomFrom("0123456789abcdef", 32)
	}
	a := e.alerts[svc+"/"+dedup]
	if a == nil && ev.EventAction == "trigger" {
		a = &Alert{Service: svc, DedupKey: dedup}
		e.alerts[svc+"/"+dedup] = a
	}
	if a != nil {
		a.Events++
		switch ev.EventAction {
		case "trigger":
			if a.Status != "resolved" {
				a.Status, a.Summary, a.Severity, a.Details = "triggered", ev.Payload.Summary, ev.Payload.Severity, ev.Payload.CustomDetails
			}
		case "acknowledge":
			if a.Status == "triggered" {
				a.Status = "acknowledged"
			}
		case "resolve":
			a.Status = "resolved"
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": dedup})
}
