package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
)

// TestConcurrentEnsureOnCluster: three instances starting at once against a
// fresh three-node cluster all create the topology (replicas 3), and all
// apply a changed configuration at once. With nats.go's update-first
// CreateOrUpdateStream every one of them hung until its deadline.
func TestConcurrentEnsureOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server processes")
	}
	n := StartNATS(t, t.TempDir(), NATSOptions{Nodes: 3})
	for round, ackWait := range []time.Duration{30 * time.Second, time.Minute} {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			_, js := n.Connect(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				top := bus.DefaultTopology()
				top.Replicas, top.AckWait = 3, ackWait
				if _, errs[i] = bus.Ensure(ctx, js, top); errs[i] == nil {
					_, errs[i] = ghingest.EnsureState(ctx, js, bus.Topology{Replicas: 3})
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, instance %d: %v", round, i, err)
			}
		}
		_, js := n.Connect(t)
		ctx := context.Background()
		c, err := js.Consumer(ctx, exposure.StreamExposures, exposure.ConsumerResponders)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.AckWait != ackWait || info.Config.Replicas != 3 {
			t.Fatalf("round %d: consumer ack_wait %s replicas %d", round, info.Config.AckWait, info.Config.Replicas)
		}
		s, err := js.Stream(ctx, exposure.StreamExposures)
		if err != nil {
			t.Fatal(err)
		}
		if si, _ := s.Info(ctx); si.Config.Replicas != 3 {
			t.Fatalf("stream replicas %d", si.Config.Replicas)
		}
	}
}
