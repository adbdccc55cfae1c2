package logsink

import (
	"context"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Window folds repeated sightings of one secret in one stream into one
// exposure per window, carrying the count.
//
// The first sighting of a (secret, stream) is published at once (latency is
// what matters for a leak). It opens a window of length d: later sightings in
// the window publish nothing; they are counted, and when the window ends a
// single exposure carries their count (and opens the next window). A window
// that ends with no further sighting is forgotten, so the next sighting is
// published at once again. A flood of one secret in one stream therefore
// makes one exposure per window, and the counts of its exposures add up to
// the number of sightings this instance received.
//
// A request that sights a secret whose first exposure is still being
// published waits for that publish: it never answers 2xx before the sighting
// is durable, and when that publish fails it publishes itself.
//
// The window is per process. Several instances behind a load balancer each
// fold their own sightings; their first exposures of a secret in the same
// d-aligned slot carry the same JetStream message id (msgID), so JetStream's
// duplicate window (nats.duplicate_window, which must be at least d) stores
// one of them.
type Window struct {
	d   time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	start    time.Time     // when the current window opened
	inflight chan struct{} // non-nil while the window's first exposure is being published
	pending  int           // sightings since the last published exposure
	last     time.Time     // the latest of them
	tmpl     *exposure.Event
	msgBase  string
}

// NewWindow returns a window of length d (at least 1s) that tracks at most
// max (secret, stream) pairs; past that, sightings are published without
// folding (JetStream's duplicate window still folds same-slot repeats).
func NewWindow(d time.Duration, max int) *Window {
	if d < time.Second {
		d = time.Second
	}
	if max <= 0 {
		max = 65536
	}
	return &Window{d: d, max: max, now: time.Now, slots: map[string]*slot{}}
}

// WithClock makes the window read time from now (tests); it returns w.
func (w *Window) WithClock(now func() time.Time) *Window {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = now
	return w
}

// Length is the window's length.
func (w *Window) Length() time.Duration { return w.d }

// Claim is the outcome of Window.Claim.
type Claim struct {
	// Publish: the caller publishes the first exposure of a new window and
	// then calls Done.
	Publish bool
	// Slot is the d-aligned slot of the sighting (for the message id).
	Slot int64
	key  string
	w    *Window
	ch   chan struct{}
}

// Claim records n sightings of key. When Publish is set the caller must
// publish and call Done; otherwise the sightings were folded into a window
// whose exposure is durable. It waits (bounded by ctx) while another request
// publishes the same key's first exposure.
func (w *Window) Claim(ctx context.Context, key string, n int) (Claim, error) {
	for {
		w.mu.Lock()
		now := w.now()
		slotIdx := now.UnixNano() / int64(w.d)
		s := w.slots[key]
		if s != nil && s.inflight != nil {
			ch := s.inflight
			w.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return Claim{}, ctx.Err()
			}
		}
		if s != nil && (s.pending > 0 || now.Before(s.start.Add(w.d))) {
			// Within the window (or past it with a tally due): fold.
			s.pending += n
			s.last = now
			w.mu.Unlock()
			return Claim{Slot: slotIdx}, nil
		}
		if s == nil && len(w.slots) >= w.max {
			w.mu.Unlock()
			return Claim{Publish: true, Slot: slotIdx}, nil
		}
		ch := make(chan struct{})
		w.slots[key] = &slot{start: now, inflight: ch, last: now}
		w.mu.Unlock()
		return Claim{Publish: true, Slot: slotIdx, key: key, w: w, ch: ch}, nil
	}
}

// Done reports the outcome of a claimed publish: on success e (the published
// exposure) becomes the template of the window's tally; on failure the slot
// is dropped so that a retry (or a waiting request) publishes again.
func (c Claim) Done(e *exposure.Event, msgBase string, ok bool) {
	if c.w == nil {
		return
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	s := c.w.slots[c.key]
	if s == nil || s.inflight != c.ch {
		close(c.ch)
		return
	}
	if ok {
		s.tmpl, s.msgBase, s.inflight = e, msgBase, nil
	} else {
		delete(c.w.slots, c.key)
	}
	close(c.ch)
}

// Tally is the exposure due at the end of a window: the sightings folded
// into it.
type Tally struct {
	Key     string
	Event   *exposure.Event // a copy of the window's exposure with the count, time and a new id
	MsgID   string
	restore int
	w       *Window
}

// Due returns the tallies of the windows that have ended and opens their next
// windows; windows that ended without sightings are forgotten.
func (w *Window) Due() []Tally {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	var out []Tally
	for k, s := range w.slots {
		if s.inflight != nil || now.Before(s.start.Add(w.d)) {
			continue
		}
		if s.pending == 0 || s.tmpl == nil {
			delete(w.slots, k)
			continue
		}
		e := *s.tmpl
		e.ID = exposure.NewID(now)
		e.Count = s.pending
		e.ObservedAt = s.last.UTC()
		e.ReceivedAt = now.UTC()
		out = append(out, Tally{Key: k, Event: &e, MsgID: s.msgBase + ":t" + formatInt(s.start.UnixNano()), restore: s.pending, w: w})
		s.pending = 0
		s.start = now
	}
	return out
}

// Failed puts a tally's count back, to be published with the next one.
func (t Tally) Failed() {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	if s := t.w.slots[t.Key]; s != nil {
		s.pending += t.restore
	}
}

// Len is the number of tracked (secret, stream) pairs.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.slots)
}

// Pending is the number of folded sightings not yet published.
func (w *Window) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, s := range w.slots {
		n += s.pending
	}
	return n
}
