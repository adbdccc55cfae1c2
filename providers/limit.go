package providers

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// LimitClient returns a client that has at most n requests to provider in
// flight at once (providers.<name>.max_concurrency), sending them through
// hc's transport with hc's timeout, redirect policy and cookie jar. n <= 0
// returns hc unchanged (nil means http.DefaultClient).
//
// The limit counts HTTP requests, not provider operations: one revocation
// that lists several projects at once, a batch of token revocations, an
// owner lookup and a verification each hold one slot per request they have
// in flight. A request holds its slot from the moment it is sent until its
// response body is read to the end or closed, or sending it failed. A
// request whose context ends while it waits for a slot is not sent; its
// error wraps the context's error, which Classify takes as retryable.
func LimitClient(hc *http.Client, provider string, n int) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if n <= 0 {
		return hc
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *hc
	c.Transport = &limitedTransport{base: base, provider: provider, slots: make(chan struct{}, n)}
	return &c
}

// limitedTransport is LimitClient's round tripper.
type limitedTransport struct {
	base     http.RoundTripper
	provider string
	slots    chan struct{}
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.slots <- struct{}{}:
	default:
		select {
		case t.slots <- struct{}{}:
		case <-req.Context().Done():
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the body, even on error
			}
			return nil, fmt.Errorf("waiting for one of providers.%s.max_concurrency's %d call slots: %w",
				t.provider, cap(t.slots), req.Context().Err())
		}
	}
	release := sync.OnceFunc(func() { <-t.slots })
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp == nil || resp.Body == nil || resp.Body == http.NoBody {
		release()
		return resp, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody gives its request's slot back at EOF, a read error, or Close.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
