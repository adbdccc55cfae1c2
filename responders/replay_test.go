package responders_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

var errRefused = errors.New("consumer refused (injected)")

// refusingScans is a real JetStream whose streams refuse to create ordered
// consumers: a scan of a stream fails while looking streams up and reading
// single messages still work. The failure cannot be had from a healthy
// server at a chosen moment, so it is injected here.
type refusingScans struct{ jetstream.JetStream }

func (r refusingScans) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := r.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return refusingConsumers{s}, nil
}

type refusingConsumers struct{ jetstream.Stream }

func (refusingConsumers) OrderedConsumer(context.Context, jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	return nil, errRefused
}

// A replay by incident of an incident recorded without its exposures'
// stream sequences scans the stream for them; when that scan fails, the
// replay fails with the scan's error instead of reporting that nothing was
// selected.
func TestReplayByIncidentReportsAFailedScan(t *testing.T) {
	b := bustest.Run(t)
	ctx := context.Background()
	store := &incident.Store{KV: b.Handles.Incidents, JS: b.JS}
	now := time.Now().UTC()
	inc := &incident.Incident{
		ID: "inc_recorded_before_stream_seqs", Provider: "openai", State: incident.Contained,
		CreatedAt: now, UpdatedAt: now, FirstReceivedAt: now,
		Exposures: []incident.Exposure{{ID: "exp_1", Source: "github", ReceivedAt: now}},
	}
	if _, err := store.Create(ctx, inc); err != nil {
		t.Fatal(err)
	}
	rp := &responders.Replayer{JS: refusingScans{b.JS}, Incidents: store, Playbooks: func() *playbooks.Set { return &playbooks.Set{} }}
	res, err := rp.Replay(ctx, responders.ReplayRequest{Incident: inc.ID, DryRun: true})
	if !errors.Is(err, errRefused) {
		t.Fatalf("replay = %+v, %v; want the scan's error", res, err)
	}
}
