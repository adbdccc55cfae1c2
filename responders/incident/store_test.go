package incident_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestListSeesEveryIncidentWhileTheyChange: listing the incidents while
// responders keep updating them returns every incident, every time.
// (A listing built on a KV watcher can stop early under concurrent writes,
// nats-server#4824: the on-call API and replay would then miss incidents.)
func TestListSeesEveryIncidentWhileTheyChange(t *testing.T) {
	b := bustest.Run(t, bustest.WithSync("1s"))
	ctx := context.Background()
	s := &incident.Store{KV: b.Handles.Incidents, JS: b.JS}
	const n = 1000
	revs := make([]atomic.Uint64, n)
	for i := range n {
		rev, err := s.Create(ctx, &incident.Incident{ID: fmt.Sprintf("inc-%05d", i), State: incident.Running})
		if err != nil {
			t.Fatal(err)
		}
		revs[i].Store(rev)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := r.IntN(n)
				in := &incident.Incident{ID: fmt.Sprintf("inc-%05d", i), State: incident.Running, Error: time.Now().String()}
				if rev, err := s.Update(ctx, in, revs[i].Load()); err == nil {
					revs[i].Store(rev)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for round := range 10 {
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != n {
			t.Fatalf("listing %d while incidents change: %d of %d incidents", round, len(list), n)
		}
	}
}
