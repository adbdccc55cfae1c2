// Package keystore is the in-memory key table the key-in-hand provider
// emulators share: keys by raw value, each with an id, an owner and a state.
package keystore

import (
	"crypto/rand"
	"sync"
)

// Key is one emulated key.
type Key struct {
	Raw     string
	ID      string
	Name    string
	Owner   string // user or account name
	Email   string
	Revoked bool
	Fields  map[string]string // provider-specific attributes
}

// Store holds keys.
type Store struct {
	mu   sync.Mutex
	keys map[string]*Key
	seq  int
}

// New returns an empty store.
func New() *Store { return &Store{keys: map[string]*Key{}} }

// Add registers a live key and returns a copy of it.
func (s *Store) Add(k Key) Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if k.ID == "" {
		k.ID = RandomAlnum(16)
	}
	if k.Fields == nil {
		k.Fields = map[string]string{}
	}
	c := k
	s.keys[k.Raw] = &c
	return c
}

// Get returns the key with value raw, live or revoked.
func (s *Store) Get(raw string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[raw]
	if !ok {
		return Key{}, false
	}
	return *k, true
}

// Live reports whether raw is a known, unrevoked key.
func (s *Store) Live(raw string) bool {
	k, ok := s.Get(raw)
	return ok && !k.Revoked
}

// Revoke marks raw revoked; it reports whether it was live.
func (s *Store) Revoke(raw string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[raw]
	if !ok || k.Revoked {
		return false
	}
	k.Revoked = true
	return true
}

// Update applies f to the key with value raw.
func (s *Store) Update(raw string, f func(*Key)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[raw]
	if ok {
		f(k)
	}
	return ok
}

// Find returns the first key for which match holds.
func (s *Store) Find(match func(Key) bool) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if match(*k) {
			return *k, true
		}
	}
	return Key{}, false
}

// All returns copies of every key.
func (s *Store) All() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k)
	}
	return out
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomAlnum returns n random alphanumeric characters.
func RandomAlnum(n int) string { return randomFrom(alnum, n) }

// RandomFrom returns n random characters of alphabet.
func RandomFrom(alphabet string, n int) string { return randomFrom(alphabet, n) }

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
