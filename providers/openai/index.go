package openai

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// DefaultIndexTTL is how long a listing of the organization's keys serves
// revocations before it is listed again.
const DefaultIndexTTL = 2 * time.Second

// index is a short-lived listing of the organization's project keys shared by
// concurrent revocations. OpenAI's Admin API cannot look a key up by its
// value: each revocation would otherwise list every project's keys, so a
// storm of N leaks would cost N full listings. With the index it costs one
// listing per TTL; a key not in a cached listing forces a listing that started
// after the revocation did before Firebreak concludes the key is gone, and a deleted key leaves the
// index at once.
//
// The one thing a cached listing cannot show is a key created after it; a
// key created within the listing's age (under twice the TTL, see orgKeys)
// that has the same redacted form (prefix and last four characters) as the
// leaked one would go unseen by the ambiguity check — odds of about one in
// 62⁴ per key pair created in those few seconds.
type index struct {
	ttl time.Duration

	mu       sync.Mutex
	cur      *listing
	inflight *loading
}

// listing is one listing of the organization's project keys, indexed by
// redacted form. Its keys and index never change once built; the keys
// Firebreak deleted since are recorded in gone.
type listing struct {
	at   time.Time // when the listing started
	keys []candidate

	// The index: the keys whose redacted value shows no mask, by that value;
	// the masked ones that show enough to match (see MatchRedacted), by their
	// visible tail, with their visible heads and the distinct tail lengths.
	exact    map[string][]int
	byTail   map[string][]int
	heads    []string
	tailLens []int

	mu   sync.Mutex
	gone map[string]bool // ids of keys deleted since the listing
}

// newListing indexes keys, listed at at.
func newListing(at time.Time, keys []candidate) *listing {
	l := &listing{at: at, keys: keys, exact: map[string][]int{}, byTail: map[string][]int{}, heads: make([]string, len(keys))}
	lens := map[int]bool{}
	for i, k := range keys {
		r := k.key.RedactedValue
		head, tail, masked := splitRedacted(r)
		switch {
		case !masked:
			if r != "" {
				l.exact[r] = append(l.exact[r], i)
			}
		case len(strings.TrimPrefix(head, "sk-"))+len(tail) >= 4:
			l.heads[i] = head
			l.byTail[tail] = append(l.byTail[tail], i)
			if !lens[len(tail)] {
				lens[len(tail)] = true
				l.tailLens = append(l.tailLens, len(tail))
			}
		}
	}
	return l
}

// matching returns the listed keys, not deleted since, whose redacted value
// matches the leaked key (as MatchRedacted decides), in listing order.
func (l *listing) matching(leaked secret.Value) []candidate {
	k := leaked.Reveal()
	pos := append([]int(nil), l.exact[k]...)
	for _, n := range l.tailLens {
		if n > len(k) {
			continue
		}
		for _, i := range l.byTail[k[len(k)-n:]] {
			if h := l.heads[i]; len(k) >= len(h)+n && strings.HasPrefix(k, h) {
				pos = append(pos, i)
			}
		}
	}
	if len(pos) == 0 {
		return nil
	}
	slices.Sort(pos)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []candidate
	for _, i := range pos {
		if !l.gone[l.keys[i].key.ID] {
			out = append(out, l.keys[i])
		}
	}
	return out
}

// forget records that the key keyID was deleted.
func (l *listing) forget(keyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone == nil {
		l.gone = map[string]bool{}
	}
	l.gone[keyID] = true
}

type loading struct {
	started time.Time
	done    chan struct{}
	res     *listing
	err     error
}

// orgKeys returns a listing that started no earlier than notBefore and is
// younger than the TTL, listing the organization when needed. Concurrent
// callers share one listing.
//
// With a zero notBefore (any listing will do: a search, not the settling of
// a miss), a listing past the TTL but younger than twice it still answers at
// once while a newer one is listed in the background, so that searches do
// not all wait on a whole organization's listing (one request per page of
// every project's keys at the real API's latency) each time one expires.
func (c *Client) orgKeys(ctx context.Context, ak secret.Value, notBefore time.Time) (*listing, error) {
	ix := &c.idx
	for {
		ix.mu.Lock()
		if cur := ix.cur; cur != nil && !cur.at.Before(notBefore) {
			age := time.Since(cur.at)
			if age < ix.ttl {
				ix.mu.Unlock()
				return cur, nil
			}
			if notBefore.IsZero() && age < 2*ix.ttl {
				if ix.inflight == nil {
					ld := ix.begin()
					bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundListing)
					go func() { defer cancel(); c.load(bg, ak, ld) }()
				}
				ix.mu.Unlock()
				return cur, nil
			}
		}
		ld := ix.inflight
		if ld == nil {
			ld = ix.begin()
			ix.mu.Unlock()
			c.load(ctx, ak, ld)
			return ld.res, ld.err
		}
		ix.mu.Unlock()
		select {
		case <-ld.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if ld.err == nil && !ld.started.Before(notBefore) {
			return ld.res, nil
		}
		if ld.err != nil && ctx.Err() == nil && !ld.started.Before(notBefore) && !endedWithItsCaller(ld.err) {
			return nil, ld.err
		}
		// That listing started too early for us, or ended with its caller's
		// context (that revocation timed out or was stopped, ours was not):
		// go again.
	}
}

// begin makes a new listing the index's in-flight one; ix.mu is held.
func (ix *index) begin() *loading {
	ix.inflight = &loading{started: time.Now(), done: make(chan struct{})}
	return ix.inflight
}

// backgroundListing bounds a listing started in the background to replace
// an expired one.
const backgroundListing = time.Minute

// load lists the organization for ld (the index's in-flight listing), makes
// the result the current listing, and ends ld.
func (c *Client) load(ctx context.Context, ak secret.Value, ld *loading) {
	keys, err := c.scanOrg(ctx, ak)
	var res *listing
	if err == nil {
		res = newListing(ld.started, keys)
	}
	ix := &c.idx
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err == nil {
		ld.res = res
		ix.cur = res
	}
	ld.err = err
	ix.inflight = nil
	close(ld.done)
}

// endedWithItsCaller reports whether a shared listing failed because the
// context of the revocation that ran it ended.
func endedWithItsCaller(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// listPage sends one listing call (a GET, safe to repeat), retrying a
// transient failure twice: a large organization is many pages, and one
// failed page would otherwise fail every revocation waiting on the listing.
func (c *Client) listPage(ctx context.Context, ak secret.Value, path string, out any) (int, error) {
	for try := 1; ; try++ {
		status, err := c.admin(ctx, ak, http.MethodGet, path, out)
		if err == nil {
			return status, nil
		}
		class, after := providers.Classify(err)
		if class != providers.Retryable || try == 3 || ctx.Err() != nil {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, err
		case <-time.After(min(max(after, time.Duration(try)*100*time.Millisecond), time.Second)):
		}
	}
}

// forget removes a deleted key from the current listing.
func (c *Client) forget(keyID string) {
	c.idx.mu.Lock()
	cur := c.idx.cur
	c.idx.mu.Unlock()
	if cur != nil {
		cur.forget(keyID)
	}
}

// search returns the project keys whose redacted value matches the leaked key.
//
// A miss in a cached listing is settled only by a listing that started after
// the search did: the leaked key existed by then, so such a listing shows it
// unless it was deleted. A listing that started after the cached one but
// before the search (one already in flight) may have read the key's project
// before the key was created, and cannot answer "already deleted".
func (c *Client) search(ctx context.Context, ak, leaked secret.Value) ([]candidate, error) {
	start := time.Now()
	l, err := c.orgKeys(ctx, ak, time.Time{})
	if err != nil {
		return nil, err
	}
	cands := l.matching(leaked)
	if len(cands) == 0 && l.at.Before(start) {
		// Not in a listing older than the search: the key may be newer than it.
		if l, err = c.orgKeys(ctx, ak, start); err != nil {
			return nil, err
		}
		cands = l.matching(leaked)
	}
	return cands, nil
}

// scanOrg lists every active project's keys, all pages, in project order.
// Up to listConcurrency projects are listed at once: a listing's latency is
// then about that of the largest project, not the sum of all of them.
func (c *Client) scanOrg(ctx context.Context, ak secret.Value) ([]candidate, error) {
	projects, err := c.projects(ctx, ak)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := make([][]candidate, len(projects))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, listConcurrency)
	for i, p := range projects {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			keys, err := c.projectKeys(ctx, ak, p.ID)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err // the others' errors are this cancellation's
					cancel()
				}
				mu.Unlock()
				return
			}
			per[i] = keys
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var all []candidate
	for _, keys := range per {
		all = append(all, keys...)
	}
	return all, nil
}

// listConcurrency is how many projects scanOrg lists at once.
const listConcurrency = 4

// projectKeys lists one project's enabled keys, whoever owns them
// (owner_project_access=any), all pages; none when the project went away
// while we looked.
func (c *Client) projectKeys(ctx context.Context, ak secret.Value, projectID string) ([]candidate, error) {
	var all []candidate
	after := ""
	for {
		var page list[projectKey]
		path := "/v1/organization/projects/" + url.PathEscape(projectID) + "/api_keys?" + c.keysQuery(after)
		status, err := c.listPage(ctx, ak, path, &page)
		if status == http.StatusNotFound {
			return all, nil // the project went away while we looked
		}
		if err != nil {
			return nil, err
		}
		for _, k := range page.Data {
			all = append(all, candidate{project: projectID, key: k})
		}
		next := nextCursor(page.HasMore, page.LastID, len(page.Data), func() string { return page.Data[len(page.Data)-1].ID })
		if next == "" || next == after {
			return all, nil
		}
		after = next
	}
}
