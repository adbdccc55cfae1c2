// Package bustest runs a real embedded nats-server with JetStream for tests, on
// a temporary store, in the style of nats-server's RunBasicJetStreamServer.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
)

// Bus is a running embedded JetStream with Firebreak's topology.
type Bus struct {
	Server  *server.Server
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Handles *bus.Handles
	Dir     string
}

// Option adjusts the topology or server.
type Option func(*bus.Topology, *bus.Embedded)

// WithAckWait sets the consumer's ack wait (short in crash tests).
func WithAckWait(d time.Duration) Option {
	return func(t *bus.Topology, _ *bus.Embedded) { t.AckWait = d }
}

// WithMaxDeliver sets the consumer's max deliveries.
func WithMaxDeliver(n int) Option {
	return func(t *bus.Topology, _ *bus.Embedded) { t.MaxDeliver = n }
}

// WithSync sets the fsync policy.
func WithSync(s string) Option {
	return func(_ *bus.Topology, e *bus.Embedded) { e.Sync = s }
}

// WithSyncState persists Firebreak's derived state synchronously
// (nats.sync_state: true).
func WithSyncState() Option {
	return func(t *bus.Topology, _ *bus.Embedded) { t.SyncState = true }
}

// WithListen serves TCP clients too (for tests that run other processes).
func WithListen(addr string) Option {
	return func(_ *bus.Topology, e *bus.Embedded) { e.Listen = addr }
}

// Run starts an embedded JetStream server in t.TempDir(), connects in-process,
// ensures the topology, and stops everything when the test ends.
func Run(t testing.TB, opts ...Option) *Bus {
	t.Helper()
	dir := t.TempDir()
	topo := bus.DefaultTopology()
	emb := bus.Embedded{StoreDir: dir, Sync: bus.SyncAlways}
	for _, o := range opts {
		o(&topo, &emb)
	}
	ns, err := bus.StartEmbedded(emb, nil)
	if err != nil {
		t.Fatalf("start embedded nats-server: %v", err)
	}
	nc, err := bus.ConnectEmbedded(ns, "test")
	if err != nil {
		ns.Shutdown()
		t.Fatalf("connect: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := bus.Ensure(ctx, js, topo)
	if err != nil {
		t.Fatalf("ensure topology: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return &Bus{Server: ns, Conn: nc, JS: js, Handles: h, Dir: dir}
}

// Messages returns every message currently stored in a stream, in order.
func (b *Bus) Messages(t testing.TB, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	return StreamMessages(t, b.JS, stream)
}

// StreamMessages returns every message currently stored in a stream of js, in order.
func StreamMessages(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		out = append(out, m)
	}
	return out
}
