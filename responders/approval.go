package responders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Approval steps (`uses: approval`).
//
// An approval can last hours, so it never holds a JetStream message in
// flight. The first time the step runs, the session records the request on
// the incident (an intent record, written before anything is announced),
// stores it with its deadline in the approvals bucket, announces it (the
// approval action: Slack buttons, signed links), then parks the incident —
// state awaiting_approval, lease released — and acks the message. New
// sightings meanwhile are merged and acked without running anything.
//
// A decision (Slack, link, API) is written onto the stored request with
// compare-and-set; then the decider, or failing that the sweeper of any
// serve, re-publishes the parked exposure with the resume marker
// (exposure.HeaderResume = the approval id). That message is handled like
// any other — acquire takes the lease with compare-and-set — and the step
// finds the decision, records it (who, when, through what) in the incident
// and the audit chain, and the playbook goes on (approved, or timed out with
// on_timeout: proceed) or stops (denied, or aborted). The deadline lives in
// the bucket, so a timeout survives restarts: the sweeper records it.

// resumeFor is the approval id a resume message carries ("" for others).
func (s *session) resumeFor() string { return s.header(exposure.HeaderResume) }

func (s *session) header(name string) string {
	h := s.msg.Headers()
	if h == nil {
		return ""
	}
	return h.Get(name)
}

// runApproval runs an approval step whose condition held. done reports that
// the message was settled (the incident parked) and the playbooks stop here.
func (s *session) runApproval(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step, key string, with map[string]any) (bool, error) {
	if s.r.approvals == nil {
		return true, s.fail(ctx, pb, key, fmt.Errorf("step %s: approvals are not available in this deployment (no approvals bucket)", st.ID))
	}
	now := s.r.now()
	apr := s.inc.ApprovalFor(key)
	if apr == nil || apr.State != incident.ApprovalPending {
		apr = s.requestApproval(ctx, pb, st, key, with, now)
	}
	req := s.approvalRequest(apr)
	if err := s.r.approvals.Create(ctx, req); err != nil {
		return false, err
	}
	stored, _, err := s.r.approvals.Get(ctx, apr.ID)
	if err != nil {
		return false, err
	}
	if stored.Decision == nil && !now.Before(stored.Deadline) {
		// The deadline passed before any sweeper recorded it: record it here,
		// with the same compare-and-set a late human decision would race.
		stored, err = s.r.approvals.Decide(ctx, apr.ID, approvals.Decision{Outcome: approvals.TimedOut, By: "timeout", Via: approvals.ViaTimeout}, now, nil)
		if err != nil && !errors.Is(err, approvals.ErrAlreadyDecided) {
			return false, err
		}
	}
	if stored.Decision != nil {
		return false, s.settleApproval(ctx, pb, st, key, apr, stored.Decision)
	}
	if !apr.Announced {
		s.announceApproval(ctx, pb, st, key, with, apr)
	}
	return true, s.park(ctx, apr)
}

// requestApproval records a new approval request on the incident.
func (s *session) requestApproval(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step, key string, with map[string]any, now time.Time) *incident.Approval {
	timeout, _ := with["timeout"].(time.Duration)
	if timeout <= 0 {
		timeout = actions.DefaultApprovalTimeout
	}
	timeout = min(timeout, actions.MaxApprovalTimeout)
	onTimeout, _ := with["on_timeout"].(string)
	if onTimeout != approvals.Proceed {
		onTimeout = approvals.Abort
	}
	a := incident.Approval{ID: approvals.NewID(), Step: key, RequestedAt: now, Deadline: now.Add(timeout), OnTimeout: onTimeout,
		State: incident.ApprovalPending}
	if l, ok := with["approvers"].([]any); ok {
		for _, v := range l {
			if str, ok := v.(string); ok && strings.TrimSpace(str) != "" {
				a.Approvers = append(a.Approvers, strings.TrimSpace(str))
			}
		}
	}
	a.Group, _ = with["group"].(string)
	a.Reason, _ = with["text"].(string)
	s.inc.Approvals = append(s.inc.Approvals, a)
	rec := s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
	rec.State, rec.Attempts, rec.StartedAt, rec.EndedAt, rec.Error, rec.Class = incident.StepAwaitingApproval, rec.Attempts+1, &now, nil, "", ""
	who := strings.Join(a.Approvers, ", ")
	if a.Group != "" {
		who = strings.TrimPrefix(who+", group "+a.Group, ", ")
	}
	rec.Detail = fmt.Sprintf("waiting for %s until %s (on timeout: %s)", nonEmpty(who, "an approver"), a.Deadline.UTC().Format(time.RFC3339), onTimeout)
	s.appendAudit(audit.Record{Kind: audit.KindApprovalRequested, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Detail: rec.Detail,
		Data: map[string]string{"approval": a.ID, "deadline": a.Deadline.UTC().Format(time.RFC3339), "on_timeout": onTimeout,
			"approvers": strings.Join(a.Approvers, ","), "group": a.Group}})
	s.dirty = true
	return &s.inc.Approvals[len(s.inc.Approvals)-1]
}

func (s *session) approvalRequest(a *incident.Approval) *approvals.Request {
	return &approvals.Request{ID: a.ID, Incident: s.id, Step: a.Step, Approvers: a.Approvers, Group: a.Group, Reason: a.Reason,
		RequestedAt: a.RequestedAt, Deadline: a.Deadline, OnTimeout: a.OnTimeout, Subject: s.msg.Subject(), StreamSeq: s.meta.Sequence.Stream}
}

// announceApproval sends the request to the approvers (the approval action)
// after the request is on record.
func (s *session) announceApproval(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step, key string, with map[string]any, a *incident.Approval) {
	action, ok := s.r.actions[actions.ApprovalName]
	if err := s.save(ctx); err != nil { // the intent: the request is recorded before it is sent
		s.log.WithError(err).Warn("could not record the approval request before announcing it")
	}
	rec := s.inc.Step(key)
	if !ok {
		rec.Detail += "; not announced: the approval action is not wired"
		a.Announced = true
		return
	}
	iv, views := s.views()
	cp := *a
	in := &step.Input{Exposure: s.ev, Incident: s.snapshot(), Credential: s.cred, With: with, Playbook: pb.Name, StepID: st.ID,
		Steps: views, Approval: &cp, Log: s.log.WithField("step", st.ID)}
	_ = iv
	s.mu.Unlock()
	res, err := s.attempts(ctx, st, action, in)
	s.mu.Lock()
	a = s.inc.ApprovalFor(key)
	rec = s.inc.Step(key)
	a.Announced = true
	if err != nil {
		rec.Detail += "; announcement failed: " + err.Error()
	} else if res.Detail != "" {
		rec.Detail = res.Detail + " (on timeout: " + a.OnTimeout + ")"
	}
	s.dirty = true
}

// park releases the incident until the approval is decided, and acks the
// message.
func (s *session) park(ctx context.Context, a *incident.Approval) error {
	s.inc.State = incident.AwaitingApproval
	s.inc.Lease = nil
	if err := s.save(ctx); err != nil {
		return err
	}
	s.count("awaiting_approval")
	s.log.WithField("approval", a.ID).WithField("deadline", a.Deadline).Info("incident parked for approval")
	_ = s.msg.Ack()
	return nil
}

// settleApproval records a decision on the incident and the audit chain.
func (s *session) settleApproval(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step, key string, a *incident.Approval, d *approvals.Decision) error {
	now := s.r.now()
	at := d.At
	a.State, a.DecidedBy, a.Via, a.DecidedAt, a.Comment = d.Outcome, d.By, d.Via, &at, d.Comment
	rec := s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
	rec.EndedAt = &now
	if rec.StartedAt == nil {
		rec.StartedAt = &a.RequestedAt
	}
	kind := audit.KindApprovalGranted
	switch d.Outcome {
	case approvals.Approved:
		rec.Detail = fmt.Sprintf("approved by %s via %s", d.By, d.Via)
	case approvals.Denied:
		kind = audit.KindApprovalDenied
		rec.Detail = fmt.Sprintf("denied by %s via %s: the rest of %s does not run", d.By, d.Via, pb.Name)
	default:
		kind = audit.KindApprovalTimedOut
		if d.Proceed {
			rec.Detail = fmt.Sprintf("no decision by %s: proceeding (on_timeout: proceed)", a.Deadline.UTC().Format(time.RFC3339))
		} else {
			rec.Detail = fmt.Sprintf("no decision by %s: aborted (on_timeout: abort), the rest of %s does not run", a.Deadline.UTC().Format(time.RFC3339), pb.Name)
		}
	}
	if d.Comment != "" {
		rec.Detail += " (" + d.Comment + ")"
	}
	rec.State = incident.StepSucceeded
	if !d.Proceed {
		rec.State = incident.StepDenied
	}
	rec.Outputs = map[string]any{"approved": d.Outcome == approvals.Approved, "timed_out": d.Outcome == approvals.TimedOut,
		"decided_by": d.By, "via": d.Via}
	s.appendAudit(audit.Record{Kind: kind, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Outcome: string(rec.State),
		Detail: rec.Detail, Actor: d.By, DurationMS: ms(now.Sub(a.RequestedAt)),
		Data: map[string]string{"approval": a.ID, "via": d.Via, "decided_at": d.At.UTC().Format(time.RFC3339Nano), "request_id": d.RequestID}})
	s.r.metrics.Steps.WithLabelValues(st.Uses, s.ev.Secret.Provider, string(rec.State)).Inc()
	s.dirty = true
	if err := s.save(ctx); err != nil {
		return err
	}
	if err := s.r.approvals.Delete(ctx, a.ID); err != nil {
		s.log.WithError(err).Warn("could not delete the settled approval; the sweeper will")
	}
	return nil
}

// haltAfterDenial records the steps of pb after a denied approval as not run.
func (s *session) haltAfterDenial(pb *playbooks.Playbook, from int, deniedKey string) {
	for _, st := range pb.Steps[from:] {
		if rec := s.inc.Step(pb.Name + "/" + st.ID); rec != nil && rec.State.Done() {
			continue
		}
		rec := s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
		rec.State, rec.Detail = incident.StepSkipped, "not run: approval "+deniedKey+" was not given"
		s.appendAudit(audit.Record{Kind: audit.KindStepSkipped, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Detail: rec.Detail})
		s.dirty = true
	}
}

func nonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
