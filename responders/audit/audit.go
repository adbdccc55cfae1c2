// Package audit appends Firebreak's audit trail: every step's start and
// outcome, every merge, resolution and dead letter, as JSON records on
// firebreak.audit.<incident> in the FIREBREAK_AUDIT stream.
//
// Records of one incident form a hash chain: each carries the sequence number
// and SHA-256 of the previous one, so a removed or altered record is detected
// by recomputing the chain. A stream message holds one or more consecutive
// records of one chain, one JSON object per line: a responder writes the
// records of a stretch of work in one message (see Records). Records never
// carry a raw secret.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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

// ErrForked is returned by Extend when JetStream already holds the first
// record it appends: another writer extended the chain from the same head.
var ErrForked = errors.New("audit chain forked")

// Records splits a stream message of the audit stream into its records. A
// message holds one or more consecutive records of one chain, one JSON
// object per line (JSON encoding escapes every newline inside a record), so
// a one-record message is that record's JSON.
func Records(data []byte) [][]byte {
	var out [][]byte
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// Append publishes recs, in one message, as the next records of their
// incident's chain and returns the new head once JetStream stored them. The
// message id is incident:seq of the first record. When JetStream answers
// that it already holds that id, the chain on the stream is ahead of head (a
// responder that died had appended records beyond the head it last wrote on
// the incident): recs are appended again after the chain's actual last
// record, so that they are stored rather than dropped as a duplicate, and
// the chain stays one line.
func (rec *Recorder) Append(ctx context.Context, head Chain, recs ...Record) (Chain, error) {
	for attempt := 0; ; attempt++ {
		b, msgID, next, err := prepare(head, recs)
		if err != nil {
			return head, err
		}
		ack, err := rec.JS.Publish(ctx, exposure.AuditSubject(recs[0].Incident), b,
			jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamAudit))
		if err != nil {
			return head, fmt.Errorf("append audit record: %w", err)
		}
		if !ack.Duplicate {
			return next, nil
		}
		last, err := rec.lastRecord(ctx, recs[0].Incident)
		if err != nil || attempt >= 5 || last.Seq <= head.Seq {
			// Cannot find a later head: continue from the stored message.
			if m, gerr := rec.getMsg(ctx, ack.Sequence); gerr == nil {
				if h, herr := lastHead(m); herr == nil {
					next = h
				}
			}
			return next, nil
		}
		head = last
	}
}

// Extend publishes recs, in one message, after head, a head known to be the
// stored one (the session appended the chain's last records itself), and
// returns the new head once JetStream stored them. A publish that fails (a
// leader election, a reconnect) is tried again every 250 ms with the same
// message id, so that a message that did land is not stored twice, until it
// is stored or ctx is done. When JetStream answers a first try that it
// already holds the message id, another writer extended the chain from the
// same head: Extend returns ErrForked.
func (rec *Recorder) Extend(ctx context.Context, head Chain, recs ...Record) (Chain, error) {
	b, msgID, next, err := prepare(head, recs)
	if err != nil {
		return head, err
	}
	m := &nats.Msg{Subject: exposure.AuditSubject(recs[0].Incident), Data: b}
	for attempt := 0; ; attempt++ {
		ack, err := rec.JS.PublishMsg(ctx, m, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamAudit))
		if err == nil {
			if ack.Duplicate && attempt == 0 {
				return head, fmt.Errorf("%w: JetStream already holds record %s", ErrForked, msgID)
			}
			return next, nil
		}
		select {
		case <-ctx.Done():
			return head, fmt.Errorf("append audit record: %w (gave up: %w)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
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
	h, err := lastHead(m.Data)
	if err != nil {
		return Chain{}, fmt.Errorf("audit message %d: %w", m.Sequence, err)
	}
	return h, nil
}

// lastHead returns the chain head that data, a stored message, ends at: the
// seq and hash of its last record.
func lastHead(data []byte) (Chain, error) {
	rs := Records(data)
	if len(rs) == 0 {
		return Chain{}, errors.New("holds no record")
	}
	raw := rs[len(rs)-1]
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Chain{}, fmt.Errorf("not an audit record: %w", err)
	}
	return Chain{Seq: r.Seq, Head: Hash(raw)}, nil
}

// prepare chains recs after head and encodes them as one message: one JSON
// record per line. It returns the message, its id (incident:seq of the first
// record) and the new head.
func prepare(head Chain, recs []Record) ([]byte, string, Chain, error) {
	if len(recs) == 0 {
		return nil, "", head, errors.New("append audit record: no record")
	}
	var buf []byte
	first := head.Seq + 1
	for i, r := range recs {
		if r.Incident != recs[0].Incident {
			return nil, "", head, fmt.Errorf("append audit record: records of chains %q and %q in one message", recs[0].Incident, r.Incident)
		}
		r.Seq = head.Seq + 1
		r.Prev = head.Head
		if r.At.IsZero() {
			r.At = time.Now().UTC()
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, "", head, err
		}
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, b...)
		head = Chain{Seq: r.Seq, Head: Hash(b)}
	}
	return buf, fmt.Sprintf("%s:%d", recs[0].Incident, first), head, nil
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
