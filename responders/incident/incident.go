// Package incident holds Firebreak's incident record — one per leaked secret,
// however many places it leaked — and its store in the firebreak_incidents
// key-value bucket. Every write is a compare-and-set on the entry's revision,
// and a lease names the one responder allowed to act on the incident, so two
// responders never both revoke.
package incident

import (
	"slices"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers"
)

// State is where an incident stands.
type State string

// Incident states. Contained, Completed and Resolved are terminal: later
// exposures of the same secret are merged without acting again.
const (
	Open      State = "open"      // created, no playbook step run yet
	Running   State = "running"   // a responder is running its playbooks
	Retrying  State = "retrying"  // a step failed retryably; the message was redelivered with a delay
	Contained State = "contained" // the key was revoked (or found already revoked)
	Completed State = "completed" // playbooks ran to the end without revoking (key not live, escalated, dry-run)
	Resolved  State = "resolved"  // closed by people (e.g. the GitHub alert was resolved)
	Failed    State = "failed"    // a step failed permanently or deliveries ran out
	Unmatched State = "unmatched" // no playbook matched the exposure
	// AwaitingApproval: an approval step holds the playbook; no responder
	// holds the incident (no lease, no message in flight) until the decision
	// or the deadline resumes it.
	AwaitingApproval State = "awaiting_approval"
)

// RaiseSeverity sets the severity to s if s is more severe (medium < high <
// critical); it reports whether it changed.
func (in *Incident) RaiseSeverity(s string) bool {
	rank := map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}
	if rank[s] > rank[in.Severity] {
		in.Severity = s
		return true
	}
	return false
}

// Terminal reports whether the incident is done acting.
func (s State) Terminal() bool { return s == Contained || s == Completed || s == Resolved }

// StepState is where a step stands.
type StepState string

// Step states.
const (
	StepStarted   StepState = "started"
	StepSucceeded StepState = "succeeded"
	StepFailed    StepState = "failed"
	StepRetrying  StepState = "retrying"
	StepSkipped   StepState = "skipped"
	StepDryRun    StepState = "dry_run"
	// StepAwaitingApproval: an approval step waiting for its decision.
	StepAwaitingApproval StepState = "awaiting_approval"
	// StepDenied: an approval step denied (or timed out with on_timeout:
	// abort); the rest of its playbook does not run.
	StepDenied StepState = "denied"
)

// Done reports whether the step needs no further run.
func (s StepState) Done() bool {
	return s == StepSucceeded || s == StepSkipped || s == StepDryRun || s == StepDenied
}

// Incident is the record of one leaked secret.
type Incident struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Provider    string `json:"provider"`
	SecretType  string `json:"secret_type"`
	Redacted    string `json:"redacted"`
	KeyID       string `json:"key_id,omitempty"`
	State       State  `json:"state"`
	Severity    string `json:"severity"`
	Error       string `json:"error,omitempty"`
	Resolution  string `json:"resolution,omitempty"`
	Correlation string `json:"correlation_id,omitempty"`

	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	FirstReceivedAt time.Time  `json:"first_received_at"`
	VerifiedAt      *time.Time `json:"verified_at,omitempty"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	NotifiedAt      *time.Time `json:"notified_at,omitempty"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`

	// Owner is who the key belongs to, resolved once before the playbooks
	// run (see responders/owners), with the rule that answered.
	Owner *Owner `json:"owner,omitempty"`

	Exposures []Exposure `json:"exposures"`
	Playbooks []string   `json:"playbooks,omitempty"`
	Steps     []Step     `json:"steps,omitempty"`
	Lease     *Lease     `json:"lease,omitempty"`
	// Blast is the blast radius found by vault.find (or on receipt).
	Blast *exposure.Blast `json:"blast,omitempty"`

	// Approvals are the incident's approval requests, pending and decided
	// (at most one pending: steps run in order).
	Approvals []Approval `json:"approvals,omitempty"`
	// LastReplay is the id of the last replay that reopened the incident, so
	// that one replay reopens it once.
	LastReplay string `json:"last_replay,omitempty"`

	// AuditSeq and AuditHead are the sequence number and hash of the
	// incident's last audit record (the head of its hash chain).
	AuditSeq  uint64 `json:"audit_seq"`
	AuditHead string `json:"audit_head,omitempty"`
}

// Exposure is one sighting merged into the incident.
type Exposure struct {
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Ref         string            `json:"ref,omitempty"`
	URL         string            `json:"url,omitempty"`
	DeliveryID  string            `json:"delivery_id,omitempty"`
	Environment string            `json:"environment"`
	Location    exposure.Location `json:"location"`
	ReceivedAt  time.Time         `json:"received_at"`
	Count       int               `json:"count,omitempty"`
	// StreamSeq is the exposure's sequence in FIREBREAK_EXPOSURES (replay
	// reads it back from there).
	StreamSeq uint64 `json:"stream_seq,omitempty"`
}

// Step is the record of one playbook step.
type Step struct {
	Key       string           `json:"key"` // playbook/step
	Playbook  string           `json:"playbook"`
	ID        string           `json:"id"`
	Uses      string           `json:"uses"`
	State     StepState        `json:"state"`
	Attempts  int              `json:"attempts"`
	StartedAt *time.Time       `json:"started_at,omitempty"`
	EndedAt   *time.Time       `json:"ended_at,omitempty"`
	Outputs   map[string]any   `json:"outputs,omitempty"`
	Detail    string           `json:"detail,omitempty"`
	Error     string           `json:"error,omitempty"`
	Class     string           `json:"class,omitempty"`
	Calls     []providers.Call `json:"calls,omitempty"` // dry-run plan
}

// Duration is how long the step's last attempt took.
func (s *Step) Duration() time.Duration {
	if s.StartedAt == nil || s.EndedAt == nil {
		return 0
	}
	return s.EndedAt.Sub(*s.StartedAt)
}

// Lease names the responder allowed to act on the incident until a time.
type Lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// HeldBy reports whether holder holds an unexpired lease at now.
func (l *Lease) HeldBy(holder string, now time.Time) bool {
	return l != nil && l.Holder == holder && now.Before(l.Until)
}

// HeldByOther reports whether another responder holds an unexpired lease.
func (l *Lease) HeldByOther(holder string, now time.Time) bool {
	return l != nil && l.Holder != holder && now.Before(l.Until)
}

// IDFor derives the incident id from a secret's fingerprint: deterministic, so
// two responders racing to create the incident of one secret name the same key.
func IDFor(fingerprint string) string {
	if len(fingerprint) > 24 {
		fingerprint = fingerprint[:24]
	}
	return "inc_" + fingerprint
}

// Step returns the record of a step, or nil.
func (in *Incident) Step(key string) *Step {
	for i := range in.Steps {
		if in.Steps[i].Key == key {
			return &in.Steps[i]
		}
	}
	return nil
}

// UpsertStep returns the record of a step, adding it when missing.
func (in *Incident) UpsertStep(playbook, id, uses string) *Step {
	key := playbook + "/" + id
	if s := in.Step(key); s != nil {
		return s
	}
	in.Steps = append(in.Steps, Step{Key: key, Playbook: playbook, ID: id, Uses: uses})
	return &in.Steps[len(in.Steps)-1]
}

// AddExposure merges a sighting; it reports false when the exposure was
// already part of the incident.
func (in *Incident) AddExposure(x Exposure) bool {
	if slices.ContainsFunc(in.Exposures, func(e Exposure) bool { return e.ID == x.ID }) {
		return false
	}
	in.Exposures = append(in.Exposures, x)
	if in.FirstReceivedAt.IsZero() || x.ReceivedAt.Before(in.FirstReceivedAt) {
		in.FirstReceivedAt = x.ReceivedAt
	}
	return true
}

// Environments lists the distinct environments the secret was seen in.
func (in *Incident) Environments() []string {
	var out []string
	for _, x := range in.Exposures {
		if !slices.Contains(out, x.Environment) {
			out = append(out, x.Environment)
		}
	}
	return out
}

// TimeToRevoke is the time from the first receipt to revocation.
func (in *Incident) TimeToRevoke() (time.Duration, bool) {
	if in.RevokedAt == nil || in.FirstReceivedAt.IsZero() {
		return 0, false
	}
	return in.RevokedAt.Sub(in.FirstReceivedAt), true
}

// ExposureFrom makes the incident's record of an exposure event.
func ExposureFrom(e *exposure.Event) Exposure {
	return Exposure{
		ID: e.ID, Source: e.Source.Kind, Ref: e.Source.Ref, URL: e.Source.URL, DeliveryID: e.Source.DeliveryID,
		Environment: e.Environment, Location: e.Location, ReceivedAt: e.ReceivedAt, Count: e.Count,
	}
}

// Clone returns a copy that shares nothing mutable with in: slices and the
// lease are copied (step outputs are replaced, never modified, so their maps
// are shared).
func (in *Incident) Clone() *Incident {
	c := *in
	c.Exposures = slices.Clone(in.Exposures)
	c.Playbooks = slices.Clone(in.Playbooks)
	c.Steps = slices.Clone(in.Steps)
	c.Approvals = slices.Clone(in.Approvals)
	if in.Lease != nil {
		l := *in.Lease
		c.Lease = &l
	}
	return &c
}

// Owner is the resolved owner of the incident's key.
type Owner struct {
	Name      string `json:"name,omitempty"`
	Team      string `json:"team,omitempty"`
	Email     string `json:"email,omitempty"`
	Slack     string `json:"slack,omitempty"`
	PagerDuty string `json:"pagerduty,omitempty"`
	Service   string `json:"service,omitempty"`
	Jira      string `json:"jira,omitempty"`
	GitHub    string `json:"github,omitempty"`
	Rule      string `json:"rule"`
}
