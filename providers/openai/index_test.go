package openai_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
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
