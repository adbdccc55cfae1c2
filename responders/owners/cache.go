package owners

import (
	"context"
	"sync"
	"time"
)

// DefaultFileTTL is how long CachedFiles keeps a file's content (or its
// absence) before asking GitHub again.
const DefaultFileTTL = time.Minute

// CachedFiles is a GitHub whose File answers are kept for TTL, per file:
// a leak storm out of one repository (a private repository made public, a
// scanner backfill) asks GitHub for its CODEOWNERS once a TTL instead of up
// to three times per exposure, which also spares the token's API rate
// limit. Concurrent asks for one file share a single request. Errors are not
// kept; a caller that shares another's request shares its failure too
// (its lookup falls through to the next owner rule). A CODEOWNERS change
// applies within TTL. CommitAuthor is passed through.
type CachedFiles struct {
	GitHub
	TTL time.Duration // DefaultFileTTL when zero
	Now func() time.Time

	mu    sync.Mutex
	files map[fileKey]*fileEntry
}

type fileKey struct{ owner, repo, path string }

// fileEntry is one file's answer; done is closed once it is in.
type fileEntry struct {
	done    chan struct{}
	at      time.Time
	content string
	found   bool
	err     error
}

// File implements GitHub.
func (c *CachedFiles) File(ctx context.Context, owner, repo, path string) (string, bool, error) {
	k := fileKey{owner, repo, path}
	now := c.now()
	c.mu.Lock()
	if c.files == nil {
		c.files = map[fileKey]*fileEntry{}
	}
	e := c.files[k]
	if e != nil {
		select {
		case <-e.done:
			if e.err != nil || now.Sub(e.at) >= c.ttl() {
				e = nil // stale or failed: ask again
			}
		default: // in flight: share it
		}
	}
	if e == nil {
		if len(c.files) >= sweepAt {
			c.sweep(now)
		}
		e = &fileEntry{done: make(chan struct{})}
		c.files[k] = e
		c.mu.Unlock()
		e.content, e.found, e.err = c.GitHub.File(ctx, owner, repo, path)
		e.at = c.now()
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			if c.files[k] == e {
				delete(c.files, k)
			}
			c.mu.Unlock()
		}
		return e.content, e.found, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.content, e.found, e.err
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
}

// sweepAt is the number of kept files past which stale ones are dropped.
const sweepAt = 1024

// sweep drops the answers older than the TTL. Callers hold c.mu.
func (c *CachedFiles) sweep(now time.Time) {
	for k, e := range c.files {
		select {
		case <-e.done:
			if now.Sub(e.at) >= c.ttl() {
				delete(c.files, k)
			}
		default:
		}
	}
}

func (c *CachedFiles) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultFileTTL
}

func (c *CachedFiles) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
