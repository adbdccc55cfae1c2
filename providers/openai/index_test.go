package openai_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/openai"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// TestRevocationStormSharesListings: many concurrent revocations list the
// organization a handful of times, not once each, and each deletes its own key.
func TestRevocationStormSharesListings(t *testing.T) {
	o := newOrg(t, 100)
	p := o.emu.AddProject("payments")
	const n = 40
	raws := make([]string, n)
	ids := make([]string, n)
	for i := range raws {
		raws[i], ids[i] = o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, raw := range raws {
		wg.Add(1)
		go func(raw string) {
			defer wg.Done()
			res, err := o.client.Revoke(context.Background(), cred(raw))
			if err == nil && (res.Action != "deleted" || res.AlreadyRevoked) {
				t.Errorf("revoke %s: %+v", secret.Hint(secret.New(raw)), res)
			}
			errs <- err
		}(raw)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		if o.emu.KeyExists(id) {
			t.Fatalf("key %d still exists", i)
		}
	}
	lists := len(requests(o.emu.Server(), http.MethodGet, "/v1/organization/projects/"+p+"/api_keys"))
	if lists > n/4 {
		t.Fatalf("%d revocations listed the project's keys %d times; the index should share listings", n, lists)
	}
	if dels := len(requests(o.emu.Server(), http.MethodDelete, "/v1/organization/projects/")); dels != n {
		t.Fatalf("%d DELETEs for %d keys", dels, n)
	}
}

// TestIndexSeesKeysNewerThanIt: a key created after the cached listing is
// still found (the miss forces a fresh listing), and revoking it twice is a
// no-op the second time.
func TestIndexSeesKeysNewerThanIt(t *testing.T) {
	o := newOrg(t, 100)
	p := o.emu.AddProject("payments")
	first, _ := o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	if _, err := o.client.Revoke(context.Background(), cred(first)); err != nil {
		t.Fatal(err)
	}
	later, id := o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	res, err := o.client.Revoke(context.Background(), cred(later))
	if err != nil || res.Action != "deleted" || o.emu.KeyExists(id) {
		t.Fatalf("key newer than the index: %+v %v", res, err)
	}
	res, err = o.client.Revoke(context.Background(), cred(later))
	if err != nil || !res.AlreadyRevoked {
		t.Fatalf("second revoke: %+v %v", res, err)
	}
	if dels := len(requests(o.emu.Server(), http.MethodDelete, "/v1/organization/projects/")); dels != 2 {
		t.Fatalf("%d DELETEs, want 2", dels)
	}
}

// TestSharedListingOutlivesItsCaller: the revocation that runs a shared
// listing gives up (its step timed out); a revocation waiting on that
// listing lists again under its own context instead of failing with the
// other's deadline. (Found by the fault harness: one timed-out step failed
// every revocation waiting on its listing.)
func TestSharedListingOutlivesItsCaller(t *testing.T) {
	o := newOrg(t, 100)
	p := o.emu.AddProject("payments")
	first, _ := o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	second, secondID := o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects/" + p + "/api_keys", Count: 1, Delay: 2 * time.Second})
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	firstDone := make(chan error, 1)
	go func() { _, err := o.client.Revoke(short, cred(first)); firstDone <- err }()
	for len(requests(o.emu.Server(), http.MethodGet, "/v1/organization/projects/"+p+"/api_keys")) == 0 {
		time.Sleep(time.Millisecond) // the first revocation's listing is in flight
	}
	res, err := o.client.Revoke(context.Background(), cred(second))
	if err != nil || res.Action != "deleted" || o.emu.KeyExists(secondID) {
		t.Fatalf("the waiting revocation: %+v %v", res, err)
	}
	if err := <-firstDone; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the revocation that gave up: %v", err)
	}
}

// TestListingRetriesAFailedPage: a transient failure of one page of the
// organization listing is retried; the revocation does not fail for it.
func TestListingRetriesAFailedPage(t *testing.T) {
	o := newOrg(t, 2)
	p := o.emu.AddProject("payments")
	var raw, id string
	for range 5 {
		raw, id = o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	}
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects/" + p + "/api_keys", Count: 2, Status: http.StatusBadGateway})
	res, err := o.client.Revoke(context.Background(), cred(raw))
	if err != nil || res.Action != "deleted" || o.emu.KeyExists(id) {
		t.Fatalf("revoke with two failed pages: %+v %v", res, err)
	}
	// Three failures of the same page in a row are the provider's answer.
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects", Count: 3, Status: http.StatusServiceUnavailable})
	raw2, _ := o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
	// (raw2 is newer than the cached listing, so the revocation lists again.)
	if _, err := o.client.Revoke(context.Background(), cred(raw2)); err == nil {
		t.Fatal("three failures of one page in a row did not fail the revocation")
	} else if class, _ := providers.Classify(err); class != providers.Retryable {
		t.Fatalf("error %v is not retryable", err)
	}
}

// TestIndexMissWaitsForAListingNewerThanTheSearch: a listing already in
// flight when a key was created does not answer for that key. The key is
// created after the in-flight listing has read its project (and while it
// reads another); the revocation that misses it in the cached listing must
// not take that in-flight listing's word that the key is gone.
func TestIndexMissWaitsForAListingNewerThanTheSearch(t *testing.T) {
	o := newOrg(t, 100)
	p1 := o.emu.AddProject("payments")
	p2 := o.emu.AddProject("research")
	first, _ := o.emu.AddKey(p1, openaiemu.Owner{Name: "u"})
	if _, err := o.client.Revoke(context.Background(), cred(first)); err != nil { // the cached listing
		t.Fatal(err)
	}
	// A second revocation misses the cache and lists again; that listing
	// reads p1, then stalls on p2.
	other, _ := o.emu.AddKey(p2, openaiemu.Owner{Name: "u"})
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects/" + p2 + "/api_keys", Count: 1, Delay: 500 * time.Millisecond})
	otherDone := make(chan error, 1)
	go func() { _, err := o.client.Revoke(context.Background(), cred(other)); otherDone <- err }()
	for len(requests(o.emu.Server(), http.MethodGet, "/v1/organization/projects/"+p2+"/api_keys")) < 2 {
		time.Sleep(time.Millisecond)
	}
	// Now the key leaks: created after the in-flight listing read p1.
	leaked, id := o.emu.AddKey(p1, openaiemu.Owner{Name: "u"})
	res, err := o.client.Revoke(context.Background(), cred(leaked))
	if err != nil || res.AlreadyRevoked || res.Action != "deleted" || o.emu.KeyExists(id) {
		t.Fatalf("key created while a listing was in flight: %+v %v", res, err)
	}
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
}

// TestListingFailsWithOneProject: projects are listed concurrently; one
// project whose listing keeps failing fails the revocation with that
// project's error (retryable), not with the cancellation of the others.
func TestListingFailsWithOneProject(t *testing.T) {
	o := newOrg(t, 2)
	var raw, bad string
	for i := range 6 {
		p := o.emu.AddProject("p" + string(rune('a'+i)))
		for range 3 {
			raw, _ = o.emu.AddKey(p, openaiemu.Owner{Name: "u"})
		}
		if i == 2 {
			bad = p
		}
	}
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects/" + bad + "/api_keys", Count: 3, Status: http.StatusServiceUnavailable})
	_, err := o.client.Revoke(context.Background(), cred(raw))
	if err == nil {
		t.Fatal("a project that cannot be listed did not fail the revocation")
	}
	if class, _ := providers.Classify(err); class != providers.Retryable || errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want the project's retryable error", err)
	}
	res, err := o.client.Revoke(context.Background(), cred(raw))
	if err != nil || res.Action != "deleted" {
		t.Fatalf("once the project lists again: %+v %v", res, err)
	}
}

// TestMaxConcurrencyBoundsListingRequests: a revocation storm against an
// organization of many projects, through a client limited to 2 requests at
// once (providers.openai.max_concurrency: 2), never has more than 2 requests
// at the API at a time — the listing of several projects at once included —
// and still deletes every key once.
func TestMaxConcurrencyBoundsListingRequests(t *testing.T) {
	emu := openaiemu.New()
	base := emu.Start()
	t.Cleanup(emu.Close)
	adminRaw, _ := emu.AddAdminKey("firebreak")
	c := openai.New(openai.Config{BaseURL: base, AdminKey: secret.Static(secret.New(adminRaw)), PageSize: 5,
		HTTPClient: providers.LimitClient(nil, openai.Name, 2)})
	const projects, n = 8, 24
	var pids []string
	for i := range projects {
		pids = append(pids, emu.AddProject(fmt.Sprintf("p%d", i)))
	}
	raws := make([]string, n)
	for i := range raws {
		raws[i], _ = emu.AddKey(pids[i%projects], openaiemu.Owner{Name: "u"})
	}
	// Every request takes a while, so that concurrent ones overlap.
	emu.Server().Inject(emulator.Fault{Delay: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for _, raw := range raws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Revoke(context.Background(), cred(raw)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := emu.Server().MaxInFlight(); got != 2 {
		t.Fatalf("%d requests were at the API at once; want the limit, 2", got)
	}
	if dels := len(requests(emu.Server(), http.MethodDelete, "/v1/organization/projects/")); dels != n {
		t.Fatalf("%d DELETEs for %d keys", dels, n)
	}
}

// TestExpiredListingAnswersWhileANewerOneLoads: a listing past the TTL (but
// under twice it) still answers a search at once while a newer listing loads
// in the background, so revocations do not all wait on an organization's
// listing each time one expires; a miss in it still waits for a listing
// newer than the search; past twice the TTL, nothing answers from it.
func TestExpiredListingAnswersWhileANewerOneLoads(t *testing.T) {
	const ttl = 500 * time.Millisecond
	emu := openaiemu.New()
	base := emu.Start()
	t.Cleanup(emu.Close)
	adminRaw, _ := emu.AddAdminKey("firebreak")
	c := openai.New(openai.Config{BaseURL: base, AdminKey: secret.Static(secret.New(adminRaw)), PageSize: 100, IndexTTL: ttl})
	p := emu.AddProject("payments")
	first, _ := emu.AddKey(p, openaiemu.Owner{Name: "u"})
	listed, listedID := emu.AddKey(p, openaiemu.Owner{Name: "u"})
	last, lastID := emu.AddKey(p, openaiemu.Owner{Name: "u"})
	listings := func() int {
		return len(requests(emu.Server(), http.MethodGet, "/v1/organization/projects/"+p+"/api_keys"))
	}
	if _, err := c.Revoke(context.Background(), cred(first)); err != nil { // the listing, at t0
		t.Fatal(err)
	}
	time.Sleep(ttl + 100*time.Millisecond) // expired, under twice the TTL

	// The next listing takes 2 s; the search answers from the expired one.
	const slow = 2 * time.Second
	emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects/" + p + "/api_keys", Count: 1, Delay: slow})
	newer, newerID := emu.AddKey(p, openaiemu.Owner{Name: "u"})
	before := listings()
	start := time.Now()
	res, err := c.Revoke(context.Background(), cred(listed))
	if err != nil || res.Action != "deleted" || emu.KeyExists(listedID) {
		t.Fatalf("revoke from the expired listing: %+v %v", res, err)
	}
	if took := time.Since(start); took >= slow {
		t.Fatalf("the revocation waited %v for the slow listing", took)
	}
	for deadline := time.Now().Add(slow); listings() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no listing was started in the background")
		}
	}

	// A key newer than the expired listing is a miss there: settled only
	// by a listing that started after the search (found, deleted).
	res, err = c.Revoke(context.Background(), cred(newer))
	if err != nil || res.AlreadyRevoked || res.Action != "deleted" || emu.KeyExists(newerID) {
		t.Fatalf("key newer than the expired listing: %+v %v", res, err)
	}

	// Past twice the TTL the listing answers nothing: the revocation waits
	// for a new one, and fails with it.
	time.Sleep(2*ttl + 100*time.Millisecond)
	emu.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects", Count: 3, Status: http.StatusServiceUnavailable})
	if _, err := c.Revoke(context.Background(), cred(last)); err == nil {
		t.Fatal("a revocation past twice the TTL answered from the old listing instead of listing again")
	} else if class, _ := providers.Classify(err); class != providers.Retryable {
		t.Fatalf("error %v is not retryable", err)
	}
	if !emu.KeyExists(lastID) {
		t.Fatal("the key was deleted although the listing failed")
	}
}
