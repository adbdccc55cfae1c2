package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Store errors.
var (
	// ErrNotFound: no incident under that id.
	ErrNotFound = errors.New("incident not found")
	// ErrExists: Create found an incident already there (another responder won the race).
	ErrExists = errors.New("incident already exists")
	// ErrConflict: Update's revision is stale (someone else wrote in between).
	ErrConflict = errors.New("incident changed concurrently")
)

// Store keeps incidents in a JetStream key-value bucket, keyed by incident id.
type Store struct {
	KV jetstream.KeyValue
	// JS reaches the bucket's stream, which List reads the keys from; List
	// fails without it.
	JS jetstream.JetStream
}

// Get returns the incident and its revision. It returns ErrNotFound when absent.
func (s *Store) Get(ctx context.Context, id string) (*Incident, uint64, error) {
	if len(id) > exposure.MaxIDLen {
		return nil, 0, ErrNotFound // no incident has such an id; never put it on the bus
	}
	e, err := s.KV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read incident %s: %w", id, err)
	}
	var in Incident
	if err := json.Unmarshal(e.Value(), &in); err != nil {
		return nil, 0, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return &in, e.Revision(), nil
}

// Create stores a new incident. It returns ErrExists when the key is taken.
func (s *Store) Create(ctx context.Context, in *Incident) (uint64, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	rev, err := s.KV.Create(ctx, in.ID, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrExists
	}
	if err != nil {
		return 0, fmt.Errorf("create incident %s: %w", in.ID, err)
	}
	return rev, nil
}

// Update writes in if the stored revision is still rev. It returns
// ErrConflict when it is not.
func (s *Store) Update(ctx context.Context, in *Incident, rev uint64) (uint64, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	nrev, err := s.KV.Update(ctx, in.ID, b, rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("update incident %s: %w", in.ID, err)
	}
	return nrev, nil
}

// List returns every incident, newest first: every incident stored when it
// began, even while responders are writing (bus.BucketKeys).
func (s *Store) List(ctx context.Context) ([]*Incident, error) {
	if s.JS == nil {
		return nil, errors.New("list incidents: the store has no JS")
	}
	keys, err := bus.BucketKeys(ctx, s.JS, s.KV.Bucket())
	if err != nil {
		return nil, err
	}
	out := make([]*Incident, 0, len(keys))
	for _, k := range keys {
		in, _, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}
