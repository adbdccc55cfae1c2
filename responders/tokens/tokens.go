// Package tokens holds the control API's bearer tokens. A token carries
// scopes — read (incidents, audit), replay, approve, admin (everything,
// including tokens) — and is stored in the firebreak_tokens bucket under the
// SHA-256 of its value: the plaintext is shown once, when it is created, and
// never stored, logged or returned again.
//
// A fast hash is the right one here: tokens are 256 bits from crypto/rand,
// so guessing one from its hash is infeasible, and a lookup by hash needs no
// constant-time comparison (the key is the hash; a wrong token finds nothing).
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
)

// Scope is what a token may do.
type Scope string

// Scopes. Admin implies every other scope.
const (
	Read    Scope = "read"    // list and show incidents, export and verify the audit trail
	Replay  Scope = "replay"  // replay exposures (dry-run or for real)
	Approve Scope = "approve" // approve or deny approval steps
	Admin   Scope = "admin"   // everything, including creating and revoking tokens
)

// AllScopes lists the scopes in order.
var AllScopes = []Scope{Read, Replay, Approve, Admin}

// Prefix starts every token, so that secret scanners (and Firebreak's own
// detectors) can recognise a leaked one.
const Prefix = "fbt_"

// Errors.
var (
	ErrUnknown  = errors.New("unknown token")
	ErrNotFound = errors.New("no such token")
	ErrScopes   = errors.New("bad scopes") // wrapped by ParseScopes' errors
)

// Token is a stored token: never its value.
type Token struct {
	ID        string    `json:"id"` // tok_ + the first 12 hex digits of the hash
	Name      string    `json:"name"`
	Scopes    []Scope   `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Has reports whether the token may act with scope s.
func (t Token) Has(s Scope) bool {
	return slices.Contains(t.Scopes, Admin) || slices.Contains(t.Scopes, s)
}

// ParseScopes parses "read,approve" (or repeated values, or both) into
// scopes: each named once, in the order of AllScopes; blanks around a name
// and empty names are ignored. An unknown name, or none at all, is an error
// wrapping ErrScopes.
func ParseScopes(values []string) ([]Scope, error) {
	var out []Scope
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			s := Scope(p)
			if !slices.Contains(AllScopes, s) {
				return nil, fmt.Errorf("%w: unknown scope %q (known: read, replay, approve, admin)", ErrScopes, p)
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: at least one scope is required (read, replay, approve, admin)", ErrScopes)
	}
	sort.Slice(out, func(i, j int) bool { return slices.Index(AllScopes, out[i]) < slices.Index(AllScopes, out[j]) })
	return out, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Hash is the stored form of a token value.
func Hash(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// IDOf is a token's public id.
func IDOf(hash string) string { return "tok_" + hash[:12] }

// Store keeps tokens in a key-value bucket.
type Store struct {
	KV jetstream.KeyValue
	// JS reaches the bucket's stream, which List and Revoke read the keys
	// from (bus.BucketKeys); they fail without it.
	JS  jetstream.JetStream
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

// Create makes a token and returns its value (show it once) and record.
// name identifies the holder in the audit trail and as an approver.
func (s *Store) Create(ctx context.Context, name string, scopes []Scope, by string) (string, Token, error) {
	if !nameRE.MatchString(name) {
		return "", Token{}, fmt.Errorf("token name %q: use 1-64 letters, digits and . _ @ - (it names the holder, e.g. an approver)", name)
	}
	if len(scopes) == 0 {
		return "", Token{}, errors.New("at least one scope is required")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Token{}, err
	}
	value := Prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	h := Hash(value)
	t := Token{ID: IDOf(h), Name: name, Scopes: scopes, CreatedAt: s.now(), CreatedBy: by}
	raw, _ := json.Marshal(t)
	if _, err := s.KV.Create(ctx, h, raw); err != nil {
		return "", Token{}, fmt.Errorf("store token: %w", err)
	}
	return value, t, nil
}

// Lookup returns the token with this value, or ErrUnknown.
func (s *Store) Lookup(ctx context.Context, value string) (Token, error) {
	if !strings.HasPrefix(value, Prefix) || len(value) > 128 {
		return Token{}, ErrUnknown
	}
	e, err := s.KV.Get(ctx, Hash(value))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, fmt.Errorf("read token: %w", err)
	}
	var t Token
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return Token{}, fmt.Errorf("decode token: %w", err)
	}
	return t, nil
}

// List returns every token (never a value), oldest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	keys, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Token
	for _, k := range keys {
		e, err := s.KV.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var t Token
		if json.Unmarshal(e.Value(), &t) == nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Revoke deletes the token with the given id.
func (s *Store) Revoke(ctx context.Context, id string) (Token, error) {
	prefix, ok := strings.CutPrefix(id, "tok_")
	if !ok || len(prefix) != 12 {
		return Token{}, fmt.Errorf("%w: %q is not a token id (tok_ and 12 hex digits)", ErrNotFound, id)
	}
	keys, err := s.keys(ctx)
	if err != nil {
		return Token{}, err
	}
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			e, err := s.KV.Get(ctx, k)
			if err != nil {
				return Token{}, err
			}
			var t Token
			_ = json.Unmarshal(e.Value(), &t)
			if err := s.KV.Purge(ctx, k); err != nil {
				return Token{}, fmt.Errorf("revoke token: %w", err)
			}
			return t, nil
		}
	}
	return Token{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

func (s *Store) keys(ctx context.Context) ([]string, error) {
	if s.JS == nil {
		return nil, errors.New("list tokens: the store has no JS")
	}
	return bus.BucketKeys(ctx, s.JS, s.KV.Bucket())
}
