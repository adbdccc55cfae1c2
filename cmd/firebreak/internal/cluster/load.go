package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func faultDelay(d time.Duration) emulator.Fault { return emulator.Fault{Delay: d} }

// Load describes an open-loop run: Count leaks sent at Rate per second, every
// DupEvery-th leak reported by two alerts sent at the same moment to two
// different instances (0: never). At, when set, is called (in its own
// goroutine) as leak i is sent, to kill or restart things mid-run.
type Load struct {
	Count    int
	Rate     float64
	DupEvery int
	At       func(i int)
	Timeout  time.Duration // for each delivery to be accepted (60s when zero)
}

// Send runs the load and returns the leaks once every delivery was accepted
// (or failed: the error lists how many were never accepted).
func (h *Harness) Send(ctx context.Context, ld Load) ([]*Leak, error) {
	if ld.Timeout == 0 {
		ld.Timeout = 60 * time.Second
	}
	leaks := make([]*Leak, ld.Count)
	interval := time.Duration(float64(time.Second) / ld.Rate)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	start := time.Now()
	for i := 0; i < ld.Count; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if ld.At != nil {
			go ld.At(i)
		}
		reports := 1
		if ld.DupEvery > 0 && i%ld.DupEvery == 0 {
			reports = 2
		}
		l := h.NewLeak(i, reports)
		l.Accepted = make([]string, len(l.Bodies))
		leaks[i] = l
		l.Sent = time.Now()
		for r, body := range l.Bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dctx, cancel := context.WithTimeout(ctx, ld.Timeout)
				defer cancel()
				id, n, err := h.Deliver(dctx, i+r, fmt.Sprintf("leak-%d-%d", i, r), body)
				mu.Lock()
				defer mu.Unlock()
				l.Attempts += n
				if err != nil {
					failures = append(failures, err.Error())
					return
				}
				l.Accepted[r] = id
			}()
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		return leaks, fmt.Errorf("%d deliveries never accepted, e.g. %s", len(failures), failures[0])
	}
	return leaks, nil
}

// Deletions maps key id → when the OpenAI emulator deleted it, and counts
// deletions per key id.
func (h *Harness) Deletions() (map[string]time.Time, map[string]int) {
	at, n := map[string]time.Time{}, map[string]int{}
	for _, d := range h.OpenAI.Deletions() {
		for _, k := range d.KeyIDs {
			if _, ok := at[k]; !ok {
				at[k] = d.At
			}
			n[k]++
		}
	}
	return at, n
}

// WaitRevoked waits until every leak's key was deleted.
func (h *Harness) WaitRevoked(ctx context.Context, leaks []*Leak) error {
	for {
		at, _ := h.Deletions()
		missing := 0
		for _, l := range leaks {
			if _, ok := at[l.KeyID]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d keys never revoked: %w", missing, len(leaks), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Incidents lists every incident through a running instance's control API.
func (h *Harness) Incidents(ctx context.Context) (map[string]*incident.Incident, error) {
	var lastErr error
	for i, in := range h.Instances {
		if !h.Alive(i) {
			continue
		}
		tok, err := os.ReadFile(filepath.Join(h.Dir, in.Name+"-data", "admin-token"))
		if err != nil {
			lastErr = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+in.Addr+"/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := h.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		var body struct {
			Incidents []*incident.Incident `json:"incidents"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			lastErr = fmt.Errorf("GET /v1/incidents: %d %v", resp.StatusCode, err)
			continue
		}
		out := map[string]*incident.Incident{}
		for _, x := range body.Incidents {
			out[x.ID] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("no instance answered: %v", lastErr)
}

// WaitSettled waits until every leak's incident is terminal and holds every
// accepted exposure of it.
func (h *Harness) WaitSettled(ctx context.Context, leaks []*Leak) (map[string]*incident.Incident, error) {
	for {
		incs, err := h.Incidents(ctx)
		pending := 0
		var example string
		if err == nil {
			for _, l := range leaks {
				in := incs[h.IncidentID(l)]
				if in == nil || !in.State.Terminal() || !holdsAll(in, l.Accepted) {
					pending++
					if in != nil {
						example = fmt.Sprintf("%s %s", in.ID, in.State)
					}
				}
			}
			if pending == 0 {
				return incs, nil
			}
		}
		select {
		case <-ctx.Done():
			return incs, fmt.Errorf("%d incidents not settled (e.g. %s; %v): %w", pending, example, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func holdsAll(in *incident.Incident, ids []string) bool {
	have := map[string]bool{}
	for _, x := range in.Exposures {
		have[x.ID] = true
	}
	for _, id := range ids {
		if id != "" && !have[id] {
			return false
		}
	}
	return true
}

// Latencies returns, per leak, the time from sending its first report to the
// deletion of its key at the emulator.
func Latencies(leaks []*Leak, revoked map[string]time.Time) []time.Duration {
	var out []time.Duration
	for _, l := range leaks {
		if at, ok := revoked[l.KeyID]; ok {
			out = append(out, at.Sub(l.Sent))
		}
	}
	return out
}

// Percentile returns the p-quantile (0..1) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// Pause is the longest time without any revocation, while some sent leak was
// waiting for its revocation, in the window [from, to).
func Pause(leaks []*Leak, revoked map[string]time.Time, from, to time.Time) (time.Duration, time.Time) {
	var times []time.Time
	for _, l := range leaks {
		if at, ok := revoked[l.KeyID]; ok {
			times = append(times, at)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// waiting(t): some leak sent before t is revoked after t.
	waiting := func(t time.Time) bool {
		for _, l := range leaks {
			if l.Sent.Before(t) && revoked[l.KeyID].After(t) {
				return true
			}
		}
		return false
	}
	var best time.Duration
	var bestAt time.Time
	prev := from
	for _, t := range times {
		if t.Before(from) {
			continue
		}
		if !t.Before(to) {
			break
		}
		if gap := t.Sub(prev); gap > best && waiting(prev.Add(time.Millisecond)) {
			best, bestAt = gap, prev
		}
		prev = t
	}
	return best, bestAt
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
