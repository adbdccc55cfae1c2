// Package audit appends Firebreak's audit trail: every step's start and
// outcome, every merge, resolution and dead letter, as JSON records on
// firebreak.audit.<incident> in the FIREBREAK_AUDIT stream.
//
// Records of one incident form a hash chain: each carries the sequence number
// and SHA-256 of the previous one, so a removed or altered record is detected
// by recomputing the chain. Records never carry a raw secret.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Kinds of audit records.
const (
	KindIncidentCreated   = "incident.created"
	KindExposureMerged    = "exposure.merged"
	KindPlaybookMatched   = "playbook.matched"
	KindNoPlaybook        = "playbook.none"
	KindStepStarted       = "step.started"
	KindStepSucceeded     = "step.succeeded"
	KindStepFailed        = "step.failed"
	KindStepRetrying      = "step.retrying"
	KindStepSkipped       = "step.skipped"
	KindStepDryRun        = "step.dry_run"
	KindIncidentContained = "incident.contained"
	KindIncidentCompleted = "incident.completed"
	KindIncidentFailed    = "incident.failed"
	KindIncidentResolved  = "incident.resolved"
	KindDeadLetter        = "dead_letter"
	KindSeverityRaised    = "incident.severity_raised"
	KindOwnerResolved     = "owner.resolved"

	// On-call (issue 7).
	KindApprovalRequested = "approval.requested"
	KindApprovalGranted   = "approval.granted"
	KindApprovalDenied    = "approval.denied"
	KindApprovalTimedOut  = "approval.timed_out"
	KindIncidentReplayed  = "incident.replayed"
	KindControlRequest    = "control.request"

	// KindIncidentReopened: a new acting alert (reopened, validated, …)
	// reopened an incident people had resolved.
	KindIncidentReopened = "incident.reopened"
)

// Record is one audit record.
type Record struct {
	Incident    string            `json:"incident"`
	Seq         uint64            `json:"seq"`
	Prev        string            `json:"prev,omitempty"` // hash of record Seq-1
	At          time.Time         `json:"at"`
	Kind        string            `json:"kind"`
	Correlation string            `json:"correlation_id,omitempty"`
	Exposure    string            `json:"exposure,omitempty"`
	Playbook    string            `json:"playbook,omitempty"`
	Step        string            `json:"step,omitempty"`
	Uses        string            `json:"uses,omitempty"`
	Attempt     int               `json:"attempt,omitempty"`
	DurationMS  float64           `json:"duration_ms,omitempty"`
	Outcome     string            `json:"outcome,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	Error       string            `json:"error,omitempty"`
	Actor       string            `json:"actor,omitempty"` // responder instance, or the person who acted
	Data        map[string]string `json:"data,omitempty"`
}

// Hash is the record's chain hash: SHA-256 over its JSON encoding.
func Hash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// Chain is the head of an incident's chain, kept on the incident record.
type Chain struct {
	Seq  uint64
	Head string
}

// Recorder appends records.
type Recorder struct {
	JS jetstream.JetStream
}

// Append publishes r as the next record of its incident's chain and returns the
// new head once JetStream stored it. The message id is incident:seq. When
// JetStream answers that it already holds that id, the chain on the stream is
// ahead of head (a responder that died had appended records beyond the head
// it last wrote on the incident): r is appended again after the chain's
// actual last record, so that it is stored rather than dropped as a
// duplicate, and the chain stays one line.
func (rec *Recorder) Append(ctx context.Context, head Chain, r Record) (Chain, error) {
	for attempt := 0; ; attempt++ {
		b, msgID, next, err := prepare(head, r)
		if err != nil {
			return head, err
		}
		ack, err := rec.JS.Publish(ctx, exposure.AuditSubject(r.Incident), b,
			jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamAudit))
		if err != nil {
			return head, fmt.Errorf("append audit record: %w", err)
		}
		if !ack.Duplicate {
			return next, nil
		}
		last, err := rec.lastRecord(ctx, r.Incident)
		if err != nil || attempt >= 5 || last.Seq <= head.Seq {
			// Cannot find a later head: continue from the stored record.
			if m, gerr := rec.getMsg(ctx, ack.Sequence); gerr == nil {
				next.Head = Hash(m)
			}
			return next, nil
		}
		head = last
	}
}

func (rec *Recorder) getMsg(ctx context.Context, seq uint64) ([]byte, error) {
	stored, err := rec.JS.Stream(ctx, exposure.StreamAudit)
	if err != nil {
		return nil, err
	}
	m, err := stored.GetMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// lastRecord returns the head of the incident's chain as stored.
func (rec *Recorder) lastRecord(ctx context.Context, incident string) (Chain, error) {
	stored, err := rec.JS.Stream(ctx, exposure.StreamAudit)
	if err != nil {
		return Chain{}, err
	}
	m, err := stored.GetLastMsgForSubject(ctx, exposure.AuditSubject(incident))
	if err != nil {
		return Chain{}, err
	}
	var r Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return Chain{}, err
	}
	return Chain{Seq: r.Seq, Head: Hash(m.Data)}, nil
}

// AppendAsync publishes r without waiting for JetStream's answer and returns
// the new head (computed from the record as sent) and the pending answer. Use
// it only once the chain's head is known to be the stored one (after a first
// synchronous Append): a duplicate answer means the chain forked.
func (rec *Recorder) AppendAsync(head Chain, r Record) (Chain, jetstream.PubAckFuture, error) {
	b, msgID, next, err := prepare(head, r)
	if err != nil {
		return head, nil, err
	}
	f, err := rec.JS.PublishAsync(exposure.AuditSubject(r.Incident), b,
		jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamAudit))
	if err != nil {
		return head, nil, fmt.Errorf("append audit record: %w", err)
	}
	return next, f, nil
}

// Retry publishes again the record of an asynchronous append that failed
// (typically while the audit stream elects a leader on a cluster), with the
// same message id, so a record that did land is not stored twice. It tries
// every 250 ms until it is stored or ctx is done.
func (rec *Recorder) Retry(ctx context.Context, failed jetstream.PubAckFuture) error {
	for {
		_, err := rec.JS.PublishMsg(ctx, failed.Msg())
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("append audit record: %w (gave up: %w)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func prepare(head Chain, r Record) ([]byte, string, Chain, error) {
	r.Seq = head.Seq + 1
	r.Prev = head.Head
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", head, err
	}
	return b, fmt.Sprintf("%s:%d", r.Incident, r.Seq), Chain{Seq: r.Seq, Head: Hash(b)}, nil
}

// Verify checks the chain of one incident's records, in stream order, and
// returns a description of every break.
func Verify(records [][]byte) []string {
	var problems []string
	var prevHash string
	var prevSeq uint64
	for i, raw := range records {
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			problems = append(problems, fmt.Sprintf("record %d: not JSON: %v", i, err))
			continue
		}
		if i > 0 && r.Seq == prevSeq {
			problems = append(problems, fmt.Sprintf("seq %d appears twice", r.Seq))
		} else if r.Seq != prevSeq+1 {
			problems = append(problems, fmt.Sprintf("seq %d follows %d: records missing", r.Seq, prevSeq))
		}
		if r.Prev != prevHash {
			problems = append(problems, fmt.Sprintf("seq %d: prev hash does not match record %d (altered or removed)", r.Seq, prevSeq))
		}
		prevHash, prevSeq = Hash(raw), r.Seq
	}
	return problems
}
