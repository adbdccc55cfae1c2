package logsink

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func tmpl() *exposure.Event {
	return &exposure.Event{ID: "exp_1", Schema: exposure.Schema, Count: 3}
}

// TestWindowFoldsAndTallies walks one key through windows: first sighting
// published, repeats folded, one tally per window with the count, a quiet
// window forgotten, the next sighting published at once again.
func TestWindowFoldsAndTallies(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	w := NewWindow(time.Minute, 0).WithClock(clk.now)
	ctx := context.Background()

	c, err := w.Claim(ctx, "k", 3)
	if err != nil || !c.Publish {
		t.Fatalf("first sighting: publish=%v err=%v", c.Publish, err)
	}
	c.Done(tmpl(), "logs:fp:s", true)
	for i := 0; i < 5; i++ {
		clk.add(5 * time.Second)
		if c, _ := w.Claim(ctx, "k", 10); c.Publish {
			t.Fatalf("repeat %d in the window was not folded", i)
		}
	}
	if got := w.Due(); len(got) != 0 {
		t.Fatalf("tally before the window ended: %d", len(got))
	}
	clk.add(40 * time.Second) // window ended
	due := w.Due()
	if len(due) != 1 || due[0].Event.Count != 50 || due[0].Event.ID == "exp_1" || due[0].MsgID == "" {
		t.Fatalf("tally = %+v", due)
	}
	// A failed tally publish keeps its count for the next one.
	due[0].Failed()
	clk.add(10 * time.Second)
	if c, _ := w.Claim(ctx, "k", 1); c.Publish {
		t.Fatal("sighting in the renewed window was not folded")
	}
	clk.add(time.Minute)
	due = w.Due()
	if len(due) != 1 || due[0].Event.Count != 51 {
		t.Fatalf("second tally = %+v", due)
	}
	// A window that ends quiet is forgotten; the next sighting publishes.
	clk.add(time.Minute)
	if due := w.Due(); len(due) != 0 || w.Len() != 0 {
		t.Fatalf("quiet window: due %d, tracked %d", len(due), w.Len())
	}
	if c, _ := w.Claim(ctx, "k", 1); !c.Publish {
		t.Fatal("sighting after a quiet window was folded")
	}
}

// TestWindowFailedPublishLetsOthersPublish: a request folding onto an
// in-flight publish waits for it, and publishes itself when it failed.
func TestWindowFailedPublishLetsOthersPublish(t *testing.T) {
	w := NewWindow(time.Minute, 0)
	ctx := context.Background()
	first, _ := w.Claim(ctx, "k", 1)
	if !first.Publish {
		t.Fatal("first claim must publish")
	}
	got := make(chan Claim)
	go func() {
		c, err := w.Claim(ctx, "k", 1)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	select {
	case <-got:
		t.Fatal("second claim returned while the first publish was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	first.Done(nil, "", false)
	second := <-got
	if !second.Publish {
		t.Fatal("after a failed publish the waiting request must publish")
	}
	second.Done(tmpl(), "m", true)
	if c, _ := w.Claim(ctx, "k", 1); c.Publish {
		t.Fatal("after a successful publish repeats fold")
	}
	// A waiter gives up with its context.
	w2 := NewWindow(time.Minute, 0)
	c, _ := w2.Claim(ctx, "x", 1)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w2.Claim(cctx, "x", 1); err == nil {
		t.Fatal("a waiting claim ignored its cancelled context")
	}
	c.Done(tmpl(), "m", true)
}

// TestWindowConcurrentClaims: of many concurrent sightings of one key,
// exactly one publishes and every other is counted.
func TestWindowConcurrentClaims(t *testing.T) {
	w := NewWindow(time.Minute, 0)
	var publishes atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := w.Claim(context.Background(), "k", 1)
			if err != nil {
				t.Error(err)
				return
			}
			if c.Publish {
				publishes.Add(1)
				c.Done(tmpl(), "m", true)
			}
		}()
	}
	wg.Wait()
	if publishes.Load() != 1 || w.Pending() != 199 {
		t.Fatalf("publishes %d, pending %d", publishes.Load(), w.Pending())
	}
}

// TestWindowBounded: past max tracked pairs, sightings publish unfolded.
func TestWindowBounded(t *testing.T) {
	w := NewWindow(time.Minute, 2)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		c, _ := w.Claim(ctx, k, 1)
		c.Done(tmpl(), "m", true)
	}
	for i := 0; i < 3; i++ {
		if c, _ := w.Claim(ctx, "c", 1); !c.Publish {
			t.Fatal("an untracked key was folded")
		}
	}
	if w.Len() != 2 {
		t.Fatalf("tracked %d", w.Len())
	}
}
