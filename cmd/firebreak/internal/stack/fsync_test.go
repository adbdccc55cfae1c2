package stack_test

import (
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
)

// TestFSyncReachesTheEmbeddedServer: nats.embedded.fsync is what the
// embedded nats-server's JetStream runs with: left out, every write is
// fsynced before it is acknowledged (SyncAlways); "1s" syncs in the
// background every second.
func TestFSyncReachesTheEmbeddedServer(t *testing.T) {
	cases := []struct {
		name     string
		fsync    string // "" leaves the setting to the configuration's default
		always   bool
		interval time.Duration // checked when not always
	}{
		{"default", "", true, 0},
		{"1s", "1s", false, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := start(t, stack.Options{Configure: func(cfg *config.Config) { cfg.NATS.Embedded.FSync = c.fsync }})
			if e.App.Server == nil {
				t.Fatal("no embedded nats-server")
			}
			js := e.App.Server.JetStreamConfig()
			if js == nil {
				t.Fatal("the embedded nats-server runs without JetStream")
			}
			// With SyncAlways nats-server still fills in its own interval
			// (2m), which then does not matter.
			if js.SyncAlways != c.always || (!c.always && js.SyncInterval != c.interval) {
				t.Fatalf("JetStream sync_always %v, sync_interval %s; want %v, %s", js.SyncAlways, js.SyncInterval, c.always, c.interval)
			}
		})
	}
}
