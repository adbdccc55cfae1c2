package providers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers"
)

// TestLimitClientBoundsRequestsInFlight: with a limit of 2, twelve requests
// at once reach the server at most two at a time; a request whose context
// ends while it waits for a slot is not sent and fails retryably; a slot is
// given back when the body is closed, read to the end, or the request fails.
func TestLimitClientBoundsRequestsInFlight(t *testing.T) {
	var in, most, served atomic.Int32
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		n := in.Add(1)
		defer in.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if r.URL.Path == "/hold" {
			<-hold
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := providers.LimitClient(srv.Client(), "fake", 2)
	if providers.LimitClient(srv.Client(), "fake", 0) != srv.Client() {
		t.Fatal("a limit of 0 must leave the client as it is")
	}

	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL + "/hold")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) // EOF gives the slot back; Close again is harmless
			resp.Body.Close()
		}()
	}
	for in.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	before := served.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/quick", nil)
	_, err := c.Do(req)
	cancel()
	if class, _ := providers.Classify(err); !errors.Is(err, context.DeadlineExceeded) || class != providers.Retryable {
		t.Fatalf("waiting past the deadline: %v (class %v)", err, class)
	}
	if served.Load() != before {
		t.Fatal("a request that never got a slot reached the server")
	}
	close(hold)
	wg.Wait()
	if got := most.Load(); got != 2 {
		t.Fatalf("at most %d requests ran at once, want exactly the limit 2", got)
	}

	// Slots come back on Close without reading, and on transport errors.
	for range 3 {
		resp, err := c.Get(srv.URL + "/quick")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	dead := providers.LimitClient(&http.Client{}, "fake", 1)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil)
		_, err := dead.Do(req)
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a request to a closed port: %v (want a connection error, not a wait for a slot)", err)
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/quick", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("slots were not given back: %v", err)
	}
	resp.Body.Close()
}
