// Package approvals holds Firebreak's pending approvals: an approval step
// parks its incident (state awaiting_approval, no lease, the message acked)
// and records a Request here, in the firebreak_approvals bucket, with its
// deadline. A decision — from a Slack interactive message, a signed one-time
// link, or the control API (`firebreak incidents approve`) — is written onto
// the Request with compare-and-set, so exactly one decision wins and a reused
// link or a second click is refused. The Sweeper, run by every serve,
// resumes the incident once a Request is decided or past its deadline by
// re-publishing the parked exposure with a resume marker; since the deadline
// lives in the bucket, a restart loses nothing.
package approvals

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// On-timeout policies.
const (
	Proceed = "proceed"
	Abort   = "abort"
)

// Outcomes of a decision.
const (
	Approved = "approved"
	Denied   = "denied"
	TimedOut = "timed_out"
)

// Channels a decision comes through.
const (
	ViaSlack   = "slack"
	ViaLink    = "link"
	ViaAPI     = "api"
	ViaTimeout = "timeout"
)

// Errors.
var (
	ErrNotFound       = errors.New("no such approval")
	ErrAlreadyDecided = errors.New("approval already decided")
	ErrExpired        = errors.New("approval deadline passed")
	ErrNotApprover    = errors.New("not an approver of this step")
)

// Request is a pending approval.
type Request struct {
	ID          string    `json:"id"`
	Incident    string    `json:"incident"`
	Step        string    `json:"step"` // playbook/step
	Approvers   []string  `json:"approvers,omitempty"`
	Group       string    `json:"group,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	Deadline    time.Time `json:"deadline"`
	OnTimeout   string    `json:"on_timeout"`
	// Subject and StreamSeq locate the exposure message the incident was
	// parked on; resuming re-publishes it.
	Subject   string    `json:"subject"`
	StreamSeq uint64    `json:"stream_seq"`
	Decision  *Decision `json:"decision,omitempty"`
	// ResumedAt is when a resume message was last published.
	ResumedAt *time.Time `json:"resumed_at,omitempty"`
}

// Decision is how a Request was settled.
type Decision struct {
	Outcome string    `json:"outcome"` // approved | denied | timed_out
	By      string    `json:"by"`
	Via     string    `json:"via"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	// Proceed is whether the gated steps run: true when approved, or timed
	// out with on_timeout: proceed.
	Proceed bool `json:"proceed"`
	// RequestID is the control request (or Slack callback) that decided:
	// the audit record of the decision carries it.
	RequestID string `json:"request_id,omitempty"`
}

// NewID returns a new approval id.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "apr_" + hex.EncodeToString(b)
}

// Groups resolves an approver group (a group of the owners file) to its
// members' identities. Deployments without an owners source pass nil: a
// group then admits nobody, and the error says why.
type Groups interface {
	Members(ctx context.Context, group string) ([]string, error)
}

// StaticGroups is a Groups from a map (tests, and simple deployments).
type StaticGroups map[string][]string

// Members implements Groups.
func (g StaticGroups) Members(_ context.Context, group string) ([]string, error) {
	m, ok := g[group]
	if !ok {
		return nil, fmt.Errorf("no approver group %q", group)
	}
	return m, nil
}

// MayDecide checks that one of the identities (a Slack user id, username,
// token name, …) is an approver: listed, or a member of the group.
func (r *Request) MayDecide(ctx context.Context, groups Groups, identities ...string) error {
	norm := func(s string) string { return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@")) }
	for _, id := range identities {
		if id == "" {
			continue
		}
		for _, a := range r.Approvers {
			if norm(a) == norm(id) {
				return nil
			}
		}
	}
	var groupErr error
	if r.Group != "" {
		if groups == nil {
			groupErr = fmt.Errorf("group %q cannot be resolved: no owners source is configured", r.Group)
		} else if members, err := groups.Members(ctx, r.Group); err != nil {
			groupErr = fmt.Errorf("group %q: %w", r.Group, err)
		} else {
			for _, id := range identities {
				if id != "" && slices.ContainsFunc(members, func(m string) bool { return norm(m) == norm(id) }) {
					return nil
				}
			}
		}
	}
	who := strings.Join(slices.DeleteFunc(slices.Clone(identities), func(s string) bool { return s == "" }), "/")
	msg := fmt.Sprintf("%s may not decide %s (approvers: %s", who, r.ID, strings.Join(r.Approvers, ", "))
	if r.Group != "" {
		msg += "; group " + r.Group
	}
	msg += ")"
	if groupErr != nil {
		msg += "; " + groupErr.Error()
	}
	return fmt.Errorf("%w: %s", ErrNotApprover, msg)
}

// Store keeps Requests in a key-value bucket, keyed by approval id.
type Store struct {
	KV jetstream.KeyValue
	// JS reaches the bucket's stream, which List reads the keys from
	// (bus.BucketKeys); List fails without it.
	JS jetstream.JetStream
}

// Create stores a new Request (idempotent for the same id).
func (s *Store) Create(ctx context.Context, r *Request) error {
	b, _ := json.Marshal(r)
	if _, err := s.KV.Create(ctx, r.ID, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("store approval: %w", err)
	}
	return nil
}

// Get returns a Request and its revision.
func (s *Store) Get(ctx context.Context, id string) (*Request, uint64, error) {
	if len(id) > exposure.MaxIDLen {
		return nil, 0, fmt.Errorf("%w: an id of %d bytes", ErrNotFound, len(id)) // never put it on the bus
	}
	e, err := s.KV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read approval: %w", err)
	}
	var r Request
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("decode approval: %w", err)
	}
	return &r, e.Revision(), nil
}

// Update writes r if its revision is still rev.
func (s *Store) Update(ctx context.Context, r *Request, rev uint64) (uint64, error) {
	b, _ := json.Marshal(r)
	return s.KV.Update(ctx, r.ID, b, rev)
}

// Delete removes a settled Request.
func (s *Store) Delete(ctx context.Context, id string) error {
	err := s.KV.Purge(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// List returns every stored Request, by deadline.
func (s *Store) List(ctx context.Context) ([]*Request, error) {
	if s.JS == nil {
		return nil, errors.New("list approvals: the store has no JS")
	}
	keys, err := bus.BucketKeys(ctx, s.JS, s.KV.Bucket())
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, k := range keys {
		r, _, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Deadline.Before(out[j].Deadline) })
	return out, nil
}

// Decide settles a Request with compare-and-set: the first decision wins;
// later ones get ErrAlreadyDecided (a reused link, a second click). check,
// when set, vets the Request first (e.g. MayDecide). A human decision after
// the deadline gets ErrExpired (the timeout decides).
func (s *Store) Decide(ctx context.Context, id string, d Decision, now time.Time, check func(*Request) error) (*Request, error) {
	for attempt := 0; attempt < 20; attempt++ {
		r, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Decision != nil {
			return r, fmt.Errorf("%w: %s by %s via %s at %s", ErrAlreadyDecided, r.Decision.Outcome, r.Decision.By, r.Decision.Via,
				r.Decision.At.UTC().Format(time.RFC3339))
		}
		if d.Outcome != TimedOut && !now.Before(r.Deadline) {
			return r, fmt.Errorf("%w at %s (on_timeout: %s)", ErrExpired, r.Deadline.UTC().Format(time.RFC3339), r.OnTimeout)
		}
		if check != nil {
			if err := check(r); err != nil {
				return r, err
			}
		}
		d.At = now
		switch d.Outcome {
		case Approved:
			d.Proceed = true
		case Denied:
			d.Proceed = false
		case TimedOut:
			d.Proceed = r.OnTimeout == Proceed
		default:
			return r, fmt.Errorf("unknown outcome %q", d.Outcome)
		}
		r.Decision = &d
		if _, err := s.Update(ctx, r, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue
			}
			return r, fmt.Errorf("record decision: %w", err)
		}
		return r, nil
	}
	return nil, errors.New("approval too contended")
}
