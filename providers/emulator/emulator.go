// Package emulator is the shared harness of Firebreak's provider emulators: an
// HTTP server that records every request it receives and can inject faults
// (error statuses with Retry-After, latency, dropped connections) before the
// provider-specific handler answers.
//
// An emulator is part of the product: it speaks the provider's real API (paths,
// headers, JSON bodies, error shapes, rate limiting) as the provider's public
// reference documents it, so that a client tested against it works unchanged
// against the real base URL. Provider packages build their emulators on
// Server and keep the API-specific behaviour to themselves.
package emulator

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one request an emulator received.
type Request struct {
	Method string
	Path   string // URL path, without the query
	Query  string // raw query
	Header http.Header
	Body   []byte
	At     time.Time
	// Fault names the fault injected into this request's answer ("" when
	// the handler answered normally); see Fault.Kind.
	Fault string
	// Handled: the API handler ran, so the request could have had its
	// effect (false when a fault answered instead, or the client went away
	// during an injected delay).
	Handled bool
}

// Fault is an injected failure. Match selects requests ("METHOD /path/prefix",
// "/path/prefix" or "" for all); the fault applies to the next Count matching
// requests (0 = unlimited) with probability Rate (0 = always).
type Fault struct {
	Match      string
	Count      int
	Rate       float64
	Status     int           // status to answer with; 0 with Drop or Delay only
	RetryAfter string        // Retry-After header value, if any
	Body       string        // response body; the emulator's default error body when empty
	Delay      time.Duration // latency added before answering (or before dropping)
	Drop       bool          // close the connection without answering (a reset)
	// AfterHandler with Drop lets the API handler run first — its side
	// effect happens — and then resets the connection instead of sending
	// its answer: a response lost on the way back.
	AfterHandler bool
	// Name labels the fault in Request.Fault and Injected ("timeout" for a
	// Delay longer than the client waits, say); Kind derives one otherwise.
	Name string
}

// Kind is the fault's label: Name when set, else "reset", "lost-response",
// the status ("429", "503"), or "latency".
func (f *Fault) Kind() string {
	switch {
	case f.Name != "":
		return f.Name
	case f.Drop && f.AfterHandler:
		return "lost-response"
	case f.Drop:
		return "reset"
	case f.Status != 0:
		return strconv.Itoa(f.Status)
	default:
		return "latency"
	}
}

// Server is a recording, fault-injecting HTTP server around an API handler.
type Server struct {
	handler   http.Handler
	errorBody func(status int) (contentType string, body []byte)

	mu       sync.Mutex
	requests []Request
	record   []string // what Requests keeps (Record); nil keeps everything
	faults   []*Fault
	rng      *rand.Rand
	injected map[string]int
	inFlight int
	maxIn    int

	ts *httptest.Server
}

// New returns an unstarted Server around handler. errorBody renders an injected
// fault's body in the provider's own error shape.
func New(handler http.Handler, errorBody func(status int) (string, []byte)) *Server {
	return &Server{handler: handler, errorBody: errorBody, rng: rand.New(rand.NewPCG(1, 2))}
}

// Start serves on a random loopback port and returns the base URL.
func (s *Server) Start() string {
	s.ts = httptest.NewServer(s)
	return s.ts.URL
}

// Listen serves on l (for a fixed address) and returns the base URL.
func (s *Server) Listen(l net.Listener) string {
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Start()
	return s.ts.URL
}

// URL is the base URL once started.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Injected counts the faults injected so far, by Fault.Kind.
func (s *Server) Injected() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.injected))
	for k, v := range s.injected {
		out[k] = v
	}
	return out
}

// MaxInFlight is the largest number of requests the server was handling at
// once (from the moment a request arrives until it is answered, dropped, or
// its client went away) since the start or ResetMaxInFlight.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// ResetMaxInFlight restarts MaxInFlight from the requests in flight now.
func (s *Server) ResetMaxInFlight() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxIn = s.inFlight
}

// Record limits what the server keeps to the requests matching one of
// matches ("METHOD /prefix", "/prefix", or "" for every request); with none
// it keeps no request. Requests and Count then see only kept requests, and
// emulators that keep decoded views of what they accepted (Slack messages,
// webhook deliveries) keep only those of kept requests; their counts still
// count everything. Faults, Injected and MaxInFlight see every request.
//
// A new server keeps everything, which is what tests read. A long run under
// load keeps only what it reads, so that the emulator's memory does not grow
// with every request it answers.
func (s *Server) Record(matches ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record = append([]string{}, matches...)
}

// Records reports whether the server keeps a request with this method and
// path (see Record).
func (s *Server) Records(method, path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordsLocked(method, path)
}

func (s *Server) recordsLocked(method, path string) bool {
	if s.record == nil {
		return true
	}
	for _, m := range s.record {
		if matches(m, method, path) {
			return true
		}
	}
	return false
}

// Requests returns a copy of what was received and kept (see Record), in
// order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many kept requests match ("METHOD /prefix" or "/prefix").
func (s *Server) Count(match string) int {
	n := 0
	for _, r := range s.Requests() {
		if matches(match, r.Method, r.Path) {
			n++
		}
	}
	return n
}

// Reset forgets recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func matches(match, method, path string) bool {
	if match == "" {
		return true
	}
	if m, p, ok := strings.Cut(match, " "); ok {
		return m == method && strings.HasPrefix(path, p)
	}
	return strings.HasPrefix(path, match)
}

// ServeHTTP records the request, applies any matching fault, then hands the
// request (with its body restored) to the API handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte // nil for a request without one
	if r.ContentLength != 0 {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 32<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.mu.Lock()
	fault := s.takeFault(r.Method, r.URL.Path)
	var kind string
	if fault != nil {
		kind = fault.Kind()
		if s.injected == nil {
			s.injected = map[string]int{}
		}
		s.injected[kind]++
	}
	idx := -1 // not kept
	if s.recordsLocked(r.Method, r.URL.Path) {
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body, At: time.Now(), Fault: kind})
		idx = len(s.requests) - 1
	}
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	s.mu.Unlock()
	// Out of flight when answered, or as soon as the client went away (a
	// client that timed out has freed its concurrency slot already), not
	// when a handler still busy with the abandoned request returns.
	var done sync.Once
	leave := func() {
		done.Do(func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		})
	}
	defer leave()
	stop := context.AfterFunc(r.Context(), leave)
	defer stop()

	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault.Drop {
			if fault.AfterHandler {
				s.handled(idx)
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, r) // the side effect happens; the answer is lost
			}
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						_ = tc.SetLinger(0) // RST, like a dropped connection
					}
					conn.Close()
					return
				}
			}
		}
		if fault.Status != 0 {
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			ct, b := "application/json", []byte(fault.Body)
			if fault.Body == "" && s.errorBody != nil {
				ct, b = s.errorBody(fault.Status)
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(fault.Status)
			_, _ = w.Write(b)
			return
		}
	}
	s.handled(idx)
	s.handler.ServeHTTP(w, r)
}

func (s *Server) handled(idx int) {
	s.mu.Lock()
	if idx >= 0 && idx < len(s.requests) { // not kept, or Reset dropped it
		s.requests[idx].Handled = true
	}
	s.mu.Unlock()
}

// takeFault returns the first fault that applies to this request, consuming
// one of its uses. Callers hold s.mu.
func (s *Server) takeFault(method, path string) *Fault {
	for i, f := range s.faults {
		if !matches(f.Match, method, path) {
			continue
		}
		if f.Rate > 0 && s.rng.Float64() >= f.Rate {
			continue
		}
		out := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}
