package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// TestDuplicatePublishAdoptsStoredID: a sender retrying a delivery whose
// first publish was stored (but, say, not acknowledged in time) builds a new
// event with a new id; JetStream drops it as a duplicate, and the publisher
// hands back the id of the exposure that exists.
func TestDuplicatePublishAdoptsStoredID(t *testing.T) {
	b := bustest.Run(t)
	p := &bus.Publisher{JS: b.JS, Timeout: 5 * time.Second}
	ctx := context.Background()
	first := sample()
	if res, err := p.Publish(ctx, first, "github:delivery-1"); err != nil || res.Duplicate {
		t.Fatalf("first publish: %+v %v", res, err)
	}
	again := sample()
	again.ID = exposure.NewID(time.Now().Add(time.Second))
	if again.ID == first.ID {
		t.Fatal("the retry needs a different id for this test to mean anything")
	}
	res, err := p.Publish(ctx, again, "github:delivery-1")
	if err != nil || !res.Duplicate {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if again.ID != first.ID {
		t.Fatalf("retry answered exposure %s; the stored one is %s", again.ID, first.ID)
	}
}
