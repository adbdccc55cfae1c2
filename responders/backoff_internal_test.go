package responders

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestDeliveryBackoff: a message that fails before a step can count its
// attempts waits the backoff of its deliveries, bounded by half its age, so
// deliveries spent on crashes and lease waits within its first minute do
// not make a transient error wait minutes (the fault soak saw 256 s and
// 300 s after about a minute); a message failing for long still reaches
// the 5 min ceiling, and Retry-After still wins when longer.
func TestDeliveryBackoff(t *testing.T) {
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	r := &Responder{now: func() time.Time { return now }}
	for _, c := range []struct {
		name       string
		delivered  uint64
		age        time.Duration
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first failure", 1, 0, 0, time.Second},
		{"first failure of a message that waited in a backlog", 1, 30 * time.Minute, 0, time.Second},
		{"third delivery, young", 3, time.Minute, 0, 4 * time.Second},
		{"ninth delivery after crashes, a minute old", 9, time.Minute, 0, 30 * time.Second},
		{"ninth delivery, seconds old", 9, time.Second, 0, time.Second},
		{"failing for an hour", 20, time.Hour, 0, 5 * time.Minute},
		{"Retry-After longer", 9, time.Minute, 90 * time.Second, 90 * time.Second},
		{"Retry-After shorter", 3, time.Minute, 2 * time.Second, 4 * time.Second},
	} {
		meta := &jetstream.MsgMetadata{NumDelivered: c.delivered, Timestamp: now.Add(-c.age)}
		if got := r.deliveryBackoff(meta, c.retryAfter); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if got := r.deliveryBackoff(nil, 0); got != time.Second {
		t.Errorf("no metadata: %s, want 1s", got)
	}
	if got := r.backoff(9, 0); got != 256*time.Second {
		t.Errorf("a step's ninth failed attempt: %s, want 256s", got)
	}
}
