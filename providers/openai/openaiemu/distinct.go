package openaiemu

import "sync"

// DistinctKeys makes raw keys whose redacted forms (DefaultRedact: the format
// prefix and the last four characters) differ from one another. OpenAI's
// Admin API identifies a key only by that form, and Firebreak rightly
// refuses to guess between two keys that share it; among a few hundred
// random keys two share one now and then (about one run in 160 with 430
// keys), so harnesses that make many keys, each meant to be revoked, take
// them from here. The zero value is ready to use and safe for concurrent use.
type DistinctKeys struct {
	mu   sync.Mutex
	used map[string]bool
}

// Next returns a new raw key with prefix (NewKeyValue) whose redacted form
// no key Next returned before has.
func (d *DistinctKeys) Next(prefix string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.used == nil {
		d.used = map[string]bool{}
	}
	for {
		raw := NewKeyValue(prefix)
		if r := DefaultRedact(raw); !d.used[r] {
			d.used[r] = true
			return raw
		}
	}
}
