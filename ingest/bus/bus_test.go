package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

func sample() *exposure.Event {
	return &exposure.Event{
		ID: exposure.NewID(time.Now()), Schema: exposure.Schema,
		Source:     exposure.Source{Kind: exposure.SourceGitHub, DeliveryID: "d-1"},
		Secret:     exposure.Secret{Provider: "openai", Type: "openai_api_key"},
		Alert:      &exposure.Alert{Repository: "octo/app", Number: 7, Action: "created"},
		ReceivedAt: time.Now().UTC(),
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	b := bustest.Run(t)
	ctx := context.Background()
	if _, err := bus.Ensure(ctx, b.JS, bus.DefaultTopology()); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, name := range []string{exposure.StreamExposures, exposure.StreamAudit, exposure.StreamDead} {
		if _, err := b.JS.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	c, err := b.JS.Consumer(ctx, exposure.StreamExposures, exposure.ConsumerResponders)
	if err != nil {
		t.Fatal(err)
	}
	if c.CachedInfo().Config.AckPolicy != jetstream.AckExplicitPolicy {
		t.Fatal("consumer is not explicit-ack")
	}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	b := bustest.Run(t)
	p := &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}
	ctx := context.Background()
	r1, err := p.Publish(ctx, sample(), "github:d-1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := p.Publish(ctx, sample(), "github:d-1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.Duplicate || !r2.Duplicate || r1.Sequence != r2.Sequence {
		t.Fatalf("dedup: first %+v second %+v", r1, r2)
	}
	if n := len(b.Messages(t, exposure.StreamExposures)); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestDeliveriesAreRemembered(t *testing.T) {
	b := bustest.Run(t)
	p := &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}
	ctx := context.Background()
	if d, err := p.SeenDelivery(ctx, "github", "abc"); err != nil || d != nil {
		t.Fatalf("unseen delivery: %v %v", d, err)
	}
	if err := p.RememberDelivery(ctx, "github", "abc", []string{"exp_1"}); err != nil {
		t.Fatal(err)
	}
	d, err := p.SeenDelivery(ctx, "github", "abc")
	if err != nil || d == nil || d.ExposureIDs[0] != "exp_1" {
		t.Fatalf("seen delivery: %+v %v", d, err)
	}
	if d, _ := p.SeenDelivery(ctx, "jira", "abc"); d != nil {
		t.Fatal("delivery ids are per source")
	}
}

func TestPublishFailsUnavailableWhenServerDown(t *testing.T) {
	b := bustest.Run(t)
	p := &bus.Publisher{JS: b.JS, Timeout: 500 * time.Millisecond}
	b.Server.Shutdown()
	_, err := p.Publish(context.Background(), sample(), "x")
	if !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

func TestParseSync(t *testing.T) {
	for in, want := range map[string]bool{"": true, "always": true, "1s": true, "2m": true, "never": false, "-1s": false} {
		_, _, err := bus.ParseSync(in)
		if (err == nil) != want {
			t.Errorf("ParseSync(%q) err=%v", in, err)
		}
	}
}
