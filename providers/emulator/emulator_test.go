package emulator

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFaultsThenHandler(t *testing.T) {
	s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append([]byte("ok:"), b...))
	}), func(status int) (string, []byte) { return "application/json", []byte(`{"error":"injected"}`) })
	url := s.Start()
	defer s.Close()
	s.Inject(Fault{Match: "GET /v1/", Count: 2, Status: 429, RetryAfter: "2"})

	for i, want := range []int{429, 429, 200} {
		resp, err := http.Get(url + "/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 && (resp.Header.Get("Retry-After") != "2" || string(b) != `{"error":"injected"}`) {
			t.Fatalf("request %d: fault answer %q retry-after %q", i, b, resp.Header.Get("Retry-After"))
		}
		if want == 200 && string(b) != "ok:" {
			t.Fatalf("handler body %q", b)
		}
	}
	// A non-matching path is never faulted.
	s.Inject(Fault{Match: "POST /other", Status: 500})
	resp, err := http.Get(url + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unmatched fault applied: %d", resp.StatusCode)
	}
	if got := s.Count("GET /v1/me"); got != 4 {
		t.Fatalf("recorded %d requests, want 4", got)
	}
}

func TestDropResetsConnection(t *testing.T) {
	s := New(http.NotFoundHandler(), nil)
	url := s.Start()
	defer s.Close()
	s.Inject(Fault{Drop: true, Count: 1})
	if _, err := http.Get(url + "/x"); err == nil {
		t.Fatal("dropped request got an answer")
	}
	resp, err := http.Get(url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("after the drop: %d", resp.StatusCode)
	}
}

func TestLostResponseRunsTheHandler(t *testing.T) {
	var calls atomic.Int64 // the handler runs on the server's goroutine
	s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }), nil)
	url := s.Start()
	defer s.Close()
	s.Inject(Fault{Drop: true, AfterHandler: true, Count: 1})
	if _, err := http.Post(url+"/x", "text/plain", nil); err == nil {
		t.Fatal("a lost response arrived")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (the side effect happens, the answer is lost)", n)
	}
	if got := s.Injected(); got["lost-response"] != 1 || len(got) != 1 {
		t.Fatalf("injected %v", got)
	}
	if r := s.Requests(); len(r) != 1 || r[0].Fault != "lost-response" || !r[0].Handled {
		t.Fatalf("requests %+v", r)
	}
}

func TestInjectedByKindAndMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
	}), nil)
	url := s.Start()
	defer s.Close()
	done := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() {
			if resp, err := http.Get(url + "/slow"); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < 3; i++ {
		<-arrived
	}
	if got := s.MaxInFlight(); got != 3 {
		t.Fatalf("max in flight %d with three requests held, want 3", got)
	}
	close(release)
	for i := 0; i < 3; i++ {
		<-done
	}
	s.ResetMaxInFlight()
	s.Inject(Fault{Match: "/a", Status: 503, Count: 2})
	s.Inject(Fault{Match: "/b", Status: 429, RetryAfter: "1", Name: "throttle", Count: 1})
	for _, p := range []string{"/a", "/a", "/a", "/b", "/b"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	handled := 0
	for _, r := range s.Requests() {
		if r.Handled {
			handled++
		}
	}
	if handled != 5 { // three /slow, one /a and one /b reached the handler
		t.Fatalf("%d requests handled, want 5", handled)
	}
	if got := s.Injected(); got["503"] != 2 || got["throttle"] != 1 || len(got) != 2 {
		t.Fatalf("injected %v", got)
	}
	if got := s.MaxInFlight(); got != 1 {
		t.Fatalf("max in flight %d for sequential requests, want 1", got)
	}
}

func TestRecordKeepsOnlyWhatItIsAskedTo(t *testing.T) {
	var handled atomic.Int32
	s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled.Add(1) }), nil)
	url := s.Start()
	defer s.Close()
	do := func(method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	do(http.MethodGet, "/v1/me") // recorded: a new server keeps everything
	s.Record("DELETE /v1/keys/", "/v1/projects")
	s.Inject(Fault{Match: "GET /v1/me", Status: 429, Count: 1})
	if got := do(http.MethodGet, "/v1/me"); got != 429 { // faulted, not kept
		t.Fatalf("fault on an unrecorded request: %d, want 429", got)
	}
	do(http.MethodGet, "/v1/me")
	do(http.MethodDelete, "/v1/keys/k1")
	do(http.MethodGet, "/v1/keys/k1")
	do(http.MethodPost, "/v1/projects/p1")
	var got []string
	for _, r := range s.Requests() {
		got = append(got, r.Method+" "+r.Path)
		if r.Path != "/v1/me" && !r.Handled {
			t.Fatalf("%s %s kept but not marked handled", r.Method, r.Path)
		}
	}
	want := []string{"GET /v1/me", "DELETE /v1/keys/k1", "POST /v1/projects/p1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if !s.Records(http.MethodDelete, "/v1/keys/k2") || s.Records(http.MethodGet, "/v1/keys/k2") {
		t.Fatal("Records disagrees with Record")
	}
	if handled.Load() != 5 || s.Injected()["429"] != 1 {
		t.Fatalf("handled %d, injected %v: the unrecorded requests must still be served and faulted", handled.Load(), s.Injected())
	}
	s.Record()
	do(http.MethodDelete, "/v1/keys/k3")
	if n := len(s.Requests()); n != 3 {
		t.Fatalf("Record() with no match kept a request: %d kept", n)
	}
}
