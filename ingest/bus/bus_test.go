package bus_test

import (
	"context"
	"errors"
	"strings"
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

// persistMode is the persist mode stream name was created with.
func persistMode(t *testing.T, js jetstream.JetStream, name string) jetstream.PersistModeType {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config.PersistMode
}

// Firebreak's derived state persists asynchronously unless nats.sync_state
// asks otherwise; the exposures always persist synchronously.
func TestStatePersistModeFollowsTheTopology(t *testing.T) {
	ctx := context.Background()
	state := []string{exposure.StreamAudit, exposure.StreamDead, "KV_" + exposure.BucketIncidents,
		"KV_" + exposure.BucketDeliveries, "KV_" + exposure.BucketTokens, "KV_" + exposure.BucketApprovals, "KV_extra"}
	for _, tc := range []struct {
		syncState bool
		want      jetstream.PersistModeType
	}{{false, jetstream.AsyncPersistMode}, {true, jetstream.DefaultPersistMode}} {
		var opts []bustest.Option
		if tc.syncState {
			opts = append(opts, bustest.WithSyncState())
		}
		b := bustest.Run(t, opts...)
		topo := bus.DefaultTopology()
		topo.SyncState = tc.syncState
		if _, err := bus.EnsureBucket(ctx, b.JS, "extra", "test bucket", 0, topo); err != nil {
			t.Fatal(err)
		}
		for _, name := range state {
			if got := persistMode(t, b.JS, name); got != tc.want {
				t.Errorf("sync_state=%v: stream %s persist mode %v, want %v", tc.syncState, name, got, tc.want)
			}
		}
		if got := persistMode(t, b.JS, exposure.StreamExposures); got != jetstream.DefaultPersistMode {
			t.Errorf("sync_state=%v: exposures persist mode %v, want the synchronous default", tc.syncState, got)
		}
	}
}

// A stream's persist mode cannot change in place: one more durable than
// asked is kept (and still updated), one less durable than asked is refused.
func TestEnsureStreamKeepsOrRefusesAnExistingPersistMode(t *testing.T) {
	b := bustest.Run(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "P", Subjects: []string{"p.>"}, Storage: jetstream.FileStorage}
	if _, err := bus.EnsureStream(ctx, b.JS, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.PersistMode, cfg.Description = jetstream.AsyncPersistMode, "updated"
	s, err := bus.EnsureStream(ctx, b.JS, cfg)
	if err != nil {
		t.Fatalf("asking async of a synchronous stream: %v", err)
	}
	if got := s.CachedInfo().Config; got.PersistMode != jetstream.DefaultPersistMode || got.Description != "updated" {
		t.Fatalf("got persist mode %v, description %q; want the synchronous mode kept and the update applied", got.PersistMode, got.Description)
	}

	cfg = jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}, Storage: jetstream.FileStorage, PersistMode: jetstream.AsyncPersistMode}
	if _, err := bus.EnsureStream(ctx, b.JS, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.PersistMode = jetstream.DefaultPersistMode
	_, err = bus.EnsureStream(ctx, b.JS, cfg)
	if !errors.Is(err, bus.ErrPersistMode) {
		t.Fatalf("asking synchronous of an async stream: got %v, want ErrPersistMode", err)
	}
	for _, want := range []string{"stream A", "nats.sync_state"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got := persistMode(t, b.JS, "A"); got != jetstream.AsyncPersistMode {
		t.Fatalf("refused stream changed to %v", got)
	}
}
