package responders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

const (
	classRetryable = providers.Retryable
	classDone      = providers.AlreadyDone
)

func classify(err error) (providers.Class, time.Duration) { return providers.Classify(err) }

// errLeaseLost means another responder took the incident over (our lease
// expired): stop acting and let the message be redelivered.
var errLeaseLost = errors.New("incident lease lost")

// errStopping means the responder is shutting down gracefully: the session
// stops at a step boundary and hands the incident over (handOver).
var errStopping = errors.New("responder stopping")

// session is the handling of one exposure message by one responder.
type session struct {
	r    *Responder
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	ev   *exposure.Event
	cred providers.Credential
	id   string
	log  logrus.FieldLogger
	// holder names this session in the incident's lease: unique per message
	// handling, so that two sessions of one process exclude each other too.
	holder string

	busyFor time.Duration // how long another session's lease still runs (busy)

	// leased: acquire took the incident's lease for this session; from then
	// on every stored version names this session until its last write, so
	// a write that finds another holder (or none) is stale and must not
	// land. leaseUntil is when the stored lease expires; loseLease stops the
	// session's work when the lease is lost or expires unrenewed (another
	// responder may then act), so two sessions never act on one secret at once.
	leased     bool
	leaseUntil time.Time
	loseLease  context.CancelCauseFunc

	mu  sync.Mutex // guards inc and rev against the heartbeat
	inc *incident.Incident
	rev uint64
	// dirty: inc holds outcomes not yet written. They are written before the
	// next side effect starts and before the message is acked; losing them in
	// a crash only makes the redelivery redo side-effect-free work.
	dirty bool
	// auditPending: records appended since the last write of the incident.
	// They are stored together, as one message, before the next write
	// (which records the chain's head): the incident never names a head
	// the stream lacks, and the audit stream takes one message per write
	// rather than one per record. A crash loses them with the
	// unwritten outcomes they describe; the redelivery records its own.
	auditPending []audit.Record
	// auditSynced: the chain head is known to be the stored one (a first
	// flush stored records after it), so a duplicate answer means a fork.
	auditSynced bool
	// auditErr: a record of this session could not be stored. Every later
	// write of the incident fails with it, so the session stops (logged)
	// without claiming an outcome its audit trail lacks; the redelivery
	// resumes from the last write, whose chain head was stored.
	auditErr error
}

// errAuditLost means an audit record of the session could not be stored.
var errAuditLost = errors.New("audit record not stored")

type acquireResult int

const (
	acquired acquireResult = iota
	finished               // nothing to run (merged, duplicate, resolved); ack
	busy                   // another session's unexpired lease; nak until it expires
)

func (s *session) run(ctx context.Context) {
	res, err := s.acquire(ctx)
	if err != nil {
		s.log.WithError(err).Warn("could not record the exposure on its incident; will retry")
		s.count("retry")
		_ = s.msg.NakWithDelay(s.r.deliveryBackoff(s.meta, 0))
		return
	}
	replaying := s.header(exposure.HeaderReplay) != ""
	if res != busy && replaying {
		s.supersedeAlertIncident(ctx)
	}
	if res == finished {
		_ = s.msg.Ack()
		if !replaying {
			s.supersedeAlertIncident(ctx)
		}
		return
	}
	if res == busy {
		// Most likely our own message redelivered after its responder died
		// while its lease was still running: come back when it has expired
		// (acking here would lose the unfinished incident).
		s.count("busy")
		_ = s.msg.NakWithDelay(s.busyFor + 100*time.Millisecond)
		return
	}
	workCtx, release := s.keepLease(ctx)
	err = s.runPlaybooks(workCtx)
	release()
	if err == nil && !replaying {
		// After the ack: closing a failed alert incident costs a delivery
		// one read, not its time to revoke.
		s.supersedeAlertIncident(ctx)
	}
	if err != nil {
		if errors.Is(err, errAbandoned) {
			s.log.WithError(err).Warn("message abandoned (simulated crash)")
			return
		}
		lost := errors.Is(err, errLeaseLost) || errors.Is(context.Cause(workCtx), errLeaseLost)
		if s.r.stopping.Load() && !lost {
			s.handOver(ctx, err)
			return
		}
		if lost {
			s.log.Warn("incident taken over by another responder; leaving the message for redelivery")
		} else {
			s.log.WithError(err).Warn("stopped before finishing; the message will be redelivered")
		}
		s.count("interrupted")
		// No ack: redelivery resumes at the first unfinished step.
		_ = s.msg.NakWithDelay(time.Second)
	}
}

// keepLease starts the heartbeat that renews the session's lease while it
// works. The returned context is cancelled (with errLeaseLost as its cause)
// when the lease is lost; release stops the heartbeat.
func (s *session) keepLease(ctx context.Context) (work context.Context, release func()) {
	hbCtx, stopHB := context.WithCancel(ctx)
	workCtx, lose := context.WithCancelCause(ctx)
	s.loseLease = lose
	go s.heartbeat(hbCtx)
	return workCtx, func() {
		lose(nil)
		stopHB()
	}
}

// handOver ends a session interrupted by a graceful stop: the outcomes of
// the steps that finished are written (a notification sent must not be sent
// again by the next instance), the lease is released, and the message is
// naked without delay, so that another instance resumes the incident at the
// first unfinished step now — not after the lease and AckWait run out. A step
// cut short by the end of the grace period stays "started", so the next
// attempt resumes it carefully (Input.Resumed).
func (s *session) handOver(ctx context.Context, cause error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	err := s.release(hctx)
	s.mu.Unlock()
	s.count("handed_over")
	s.r.metrics.Handover.Inc()
	if err != nil {
		s.log.WithError(err).WithField("cause", cause.Error()).Warn("stopping: could not release the incident; it resumes when its lease expires")
		_ = s.msg.Nak()
		return
	}
	s.log.WithField("cause", cause.Error()).Info("stopping: incident handed over for another instance to resume")
	_ = s.msg.Nak()
}

// release writes the incident with its lease cleared, if the lease is still
// ours. Callers hold s.mu.
func (s *session) release(ctx context.Context) error {
	for i := 0; i < 10; i++ {
		if s.inc.Lease == nil || s.inc.Lease.Holder != s.holder {
			return errLeaseLost
		}
		lease := s.inc.Lease
		s.inc.Lease = nil
		err := s.saveOnce(ctx)
		if err == nil {
			return nil
		}
		s.inc.Lease = lease
		if !errors.Is(err, incident.ErrConflict) {
			return err
		}
		stored, rev, err := s.r.store.Get(ctx, s.id)
		if err != nil {
			return err
		}
		if stored.Lease == nil || stored.Lease.Holder != s.holder {
			return errLeaseLost
		}
		for _, x := range stored.Exposures {
			s.inc.AddExposure(x)
		}
		if stored.AuditSeq > s.inc.AuditSeq {
			s.inc.AuditSeq, s.inc.AuditHead = stored.AuditSeq, stored.AuditHead
		}
		s.rev = rev
	}
	return errors.New("incident too contended")
}

func (s *session) count(outcome string) {
	s.r.metrics.Processed.WithLabelValues(s.ev.Source.Kind, s.ev.Secret.Provider, outcome).Inc()
}

func (s *session) lease() *incident.Lease {
	return &incident.Lease{Holder: s.holder, Until: s.r.now().Add(s.r.cfg.LeaseTTL)}
}

// create stores inc as the session's new incident, holding its lease when it
// has one, and records its creation with detail. exists: another session
// created the incident first (read it again).
func (s *session) create(ctx context.Context, inc *incident.Incident, detail string) (exists bool, err error) {
	rev, err := s.r.store.Create(ctx, inc)
	if errors.Is(err, incident.ErrExists) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	s.inc, s.rev = inc, rev
	if inc.Lease != nil {
		s.leased, s.leaseUntil = true, inc.Lease.Until
	}
	s.appendAudit(audit.Record{Kind: audit.KindIncidentCreated, Exposure: s.ev.ID, Detail: detail})
	return false, nil
}

// acquire merges the exposure into its incident and takes the incident's lease
// when there is work to do.
func (s *session) acquire(ctx context.Context) (acquireResult, error) {
	me := s.holder
	for attempt := 0; attempt < 50; attempt++ {
		now := s.r.now()
		inc, rev, err := s.r.store.Get(ctx, s.id)
		if errors.Is(err, incident.ErrNotFound) {
			inc = s.newIncident(now)
			if s.resolvedAlert() {
				inc.State, inc.Lease = incident.Resolved, nil
				inc.Resolution = "resolved on GitHub before Firebreak acted: " + s.ev.Alert.Resolution
				inc.ClosedAt = &now
			}
			if exists, err := s.create(ctx, inc, fmt.Sprintf("%s %s from %s", s.ev.Secret.Provider, s.ev.Secret.Redacted, s.ev.Source.Kind)); exists {
				continue
			} else if err != nil {
				return 0, err
			}
			if inc.State == incident.Resolved {
				s.appendAudit(audit.Record{Kind: audit.KindIncidentResolved, Detail: inc.Resolution, Actor: s.ev.Alert.ResolvedBy})
				s.count("resolved")
				return finished, s.save(ctx)
			}
			return acquired, nil
		}
		if err != nil {
			return 0, err
		}
		s.inc, s.rev = inc, rev
		merged := inc.AddExposure(s.exposureRecord())
		// While another session holds the lease, only it appends to the
		// incident's audit chain (it records this sighting when its next
		// write meets ours, see save): two writers would both take the next
		// sequence number and JetStream would drop one record as a duplicate.
		if merged && !inc.Lease.HeldByOther(me, now) {
			s.appendAudit(audit.Record{Kind: audit.KindExposureMerged, Exposure: s.ev.ID,
				Detail: fmt.Sprintf("seen again from %s at %s", s.ev.Source.Kind, s.ev.Location.Display)})
		}
		switch {
		case s.resolvedAlert():
			if inc.Lease.HeldByOther(me, now) {
				return 0, errors.New("incident busy; resolution retried later")
			}
			if !inc.State.Terminal() || inc.State == incident.Completed {
				inc.State = incident.Resolved
				inc.ClosedAt = &now
			}
			inc.Resolution = "alert resolved on GitHub: " + s.ev.Alert.Resolution
			s.appendAudit(audit.Record{Kind: audit.KindIncidentResolved, Detail: inc.Resolution, Actor: s.ev.Alert.ResolvedBy})
			if err := s.saveOnce(ctx); errors.Is(err, incident.ErrConflict) {
				continue
			} else if err != nil {
				return 0, err
			}
			s.count("resolved")
			return finished, nil
		case s.reopensResolved(inc, merged, now):
			// People resolved the incident and GitHub now reports the alert
			// reopened, validated or leaked again: run the playbooks again
			// (reopen.go), without repeating what already acted.
			s.reopenResolved(inc)
		case inc.State == incident.AwaitingApproval && !s.resumes(inc):
			// Parked for an approval: a new sighting is recorded; nothing
			// runs until the decision (or the deadline) resumes it.
			if !merged {
				s.count("duplicate")
				return finished, nil
			}
			if err := s.saveOnce(ctx); errors.Is(err, incident.ErrConflict) {
				continue
			} else if err != nil {
				return 0, err
			}
			s.count("merged")
			return finished, nil
		case s.reopens(inc, now):
			// A replay (firebreak replay) reopens a finished incident once:
			// steps that succeeded stay done (nothing is revoked twice),
			// failed and dry-run steps run again.
			s.reopen(inc)
		case inc.State == incident.Failed && !merged && inc.Lease == nil:
			// Failed (and dead-lettered) already: this delivery is the same
			// exposure again — a redelivery whose ack or term was lost, or a
			// second delivery in flight when another session failed it. It
			// must not run the failed incident again (a new sighting or a
			// replay does); running it raced the failing session's term and
			// left the incident "retrying" with no message behind it.
			s.count("duplicate")
			return finished, nil
		case !inc.State.Terminal() && !merged && inc.Lease.HeldByOther(me, now):
			// Not a new sighting, not finished, and leased by another session:
			// the redelivery of a message whose responder stopped before its
			// lease ran out. Retry once the lease has expired.
			s.busyFor = inc.Lease.Until.Sub(now)
			return busy, nil
		case inc.State.Terminal() || inc.Lease.HeldByOther(me, now):
			// Done already, or another responder is acting on this secret right
			// now: the sighting is recorded; nothing runs twice.
			if !merged {
				s.count("duplicate")
				return finished, nil
			}
			if err := s.saveOnce(ctx); errors.Is(err, incident.ErrConflict) {
				continue
			} else if err != nil {
				return 0, err
			}
			s.count("merged")
			return finished, nil
		}
		if conflict, err := s.takeLease(ctx, inc); conflict {
			continue
		} else if err != nil {
			return 0, err
		}
		return acquired, nil
	}
	return 0, errors.New("incident too contended")
}

// takeLease writes inc running under this session's lease. conflict: the
// stored incident changed since it was read; read it again and decide anew.
func (s *session) takeLease(ctx context.Context, inc *incident.Incident) (conflict bool, err error) {
	inc.Lease = s.lease()
	inc.State = incident.Running
	if err := s.saveOnce(ctx); errors.Is(err, incident.ErrConflict) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	s.leased, s.leaseUntil = true, inc.Lease.Until
	return false, nil
}

func (s *session) resolvedAlert() bool {
	return s.ev.Alert != nil && s.ev.Alert.Action == "resolved"
}

func (s *session) newIncident(now time.Time) *incident.Incident {
	inc := &incident.Incident{
		ID: s.id, Fingerprint: s.ev.Secret.Fingerprint, Provider: s.ev.Secret.Provider, SecretType: s.ev.Secret.Type,
		Redacted: s.ev.Secret.Redacted, KeyID: s.ev.Secret.KeyID, State: incident.Running, Severity: severity(s.ev),
		Correlation: s.ev.Correlation, CreatedAt: now, UpdatedAt: now, Lease: s.lease(),
	}
	inc.AddExposure(s.exposureRecord())
	return inc
}

// exposureRecord is the incident's record of this message's exposure, with
// its stream sequence (replay reads it back) unless the message is a copy.
func (s *session) exposureRecord() incident.Exposure {
	x := incident.ExposureFrom(s.ev)
	if s.resumeFor() == "" && s.header(exposure.HeaderReplay) == "" {
		x.StreamSeq = s.meta.Sequence.Stream
	}
	return x
}

func severity(e *exposure.Event) string {
	switch e.Environment {
	case exposure.EnvProd, exposure.EnvUnknown:
		return "critical"
	case exposure.EnvStaging:
		return "high"
	}
	return "medium"
}

// saveOnce writes the incident with compare-and-set. Callers hold no lock
// (acquire) or s.mu (save).
func (s *session) saveOnce(ctx context.Context) error {
	if s.leased {
		// Once the lease has run out another responder may act on the
		// incident: a write, and the work it lets go on, must land before
		// then (TTL/6 before, the margin the heartbeat keeps too). Past
		// that point the session stops rather than wait for a slow bus.
		until := s.writeDeadline()
		if !time.Now().Before(until) {
			return fmt.Errorf("incident lease runs out at %s, before a write could land", s.leaseUntil.Format(time.RFC3339Nano))
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	if err := s.flushAudit(ctx); err != nil {
		return err
	}
	s.inc.UpdatedAt = s.r.now()
	rev, err := s.r.store.Update(ctx, s.inc, s.rev)
	if err != nil {
		return err
	}
	s.rev = rev
	s.dirty = false
	return nil
}

// save writes the incident while holding its lease. On a conflict (another
// responder merged a sighting) it takes their exposures into ours and tries
// again; if the lease is no longer ours it returns errLeaseLost — also when
// this write itself gives the lease up (a retry, the end): the stored
// incident then belongs to whoever took it over, and ours is stale.
func (s *session) save(ctx context.Context) error {
	for i := 0; i < 20; i++ {
		err := s.saveOnce(ctx)
		if !errors.Is(err, incident.ErrConflict) {
			return err
		}
		stored, rev, err := s.r.store.Get(ctx, s.id)
		if err != nil {
			return err
		}
		if s.leased && (stored.Lease == nil || stored.Lease.Holder != s.holder) {
			return errLeaseLost
		}
		if stored.AuditSeq > s.inc.AuditSeq {
			s.inc.AuditSeq, s.inc.AuditHead = stored.AuditSeq, stored.AuditHead
		}
		for _, x := range stored.Exposures {
			if s.inc.AddExposure(x) && s.inc.Lease != nil {
				// A sighting merged by another session while we hold the
				// lease: we record it in the chain (see acquire).
				s.appendAudit(audit.Record{Kind: audit.KindExposureMerged, Exposure: x.ID,
					Detail: fmt.Sprintf("seen again from %s at %s", x.Source, x.Location.Display)})
			}
		}
		s.rev = rev
	}
	return errors.New("incident too contended")
}

// heartbeat keeps the message and the lease alive while steps run. When the
// lease is lost, or cannot be renewed before it expires (the bus is down),
// it stops the session's work: once the lease has expired the message is
// redelivered and another responder may take the incident over.
func (s *session) heartbeat(ctx context.Context) {
	every := s.r.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.msg.InProgress()
			s.mu.Lock()
			if s.inc.Lease != nil {
				s.inc.Lease = s.lease()
				// A renewal that lands after the lease expired is no renewal;
				// one that cannot land by TTL/6 before it stops the work then,
				// leaving that margin before another responder may take over.
				rctx, cancel := context.WithDeadline(ctx, s.writeDeadline())
				err := s.save(rctx)
				cancel()
				switch {
				case err == nil:
					s.leaseUntil = s.inc.Lease.Until
				case ctx.Err() != nil:
				case errors.Is(err, errLeaseLost):
					s.log.Warn("incident lease lost to another responder; stopping")
					s.stop(errLeaseLost)
					s.mu.Unlock()
					return
				default:
					s.log.WithError(err).Warn("lease renewal failed")
					if time.Until(s.leaseUntil) <= every {
						s.log.Warn("incident lease expires before it can be renewed; stopping")
						s.stop(fmt.Errorf("%w: not renewed before it expired: %v", errLeaseLost, err))
						s.mu.Unlock()
						return
					}
				}
			}
			s.mu.Unlock()
		}
	}
}

// stop ends the session's work with cause.
func (s *session) stop(cause error) {
	if s.loseLease != nil {
		s.loseLease(cause)
	}
}

// appendAudit adds a record to the incident's chain. It is stored, with the
// others appended since, by flushAudit before the incident's next write.
func (s *session) appendAudit(rec audit.Record) {
	if s.auditErr != nil {
		return
	}
	rec.Incident = s.id
	if rec.Correlation == "" {
		rec.Correlation = s.ev.Correlation
	}
	if rec.Actor == "" {
		rec.Actor = s.r.cfg.Instance
	}
	if rec.Exposure == "" {
		rec.Exposure = s.ev.ID
	}
	if rec.At.IsZero() {
		rec.At = s.r.now().UTC()
	}
	s.auditPending = append(s.auditPending, rec)
}

// writeDeadline bounds how long a write (an audit record, the incident) may
// take: it must land while the lease is still ours and renewable (the
// heartbeat needs the lock a writer holds), so TTL/6 before the lease
// expires; without a lease, a heartbeat period.
func (s *session) writeDeadline() time.Time {
	if s.leased && !s.leaseUntil.IsZero() {
		return s.leaseUntil.Add(-s.r.cfg.LeaseTTL / 6)
	}
	return time.Now().Add(s.r.cfg.LeaseTTL / 3)
}

func (s *session) auditLost(err error) {
	s.auditErr = fmt.Errorf("%w: %v", errAuditLost, err)
	s.auditPending = nil
	s.log.WithError(err).Error("audit record not stored; the session stops and the exposure is redelivered")
}

// flushAudit stores the records appended since the last write as one
// message after the incident's chain head, and moves the head past them. The
// session's first flush appends after the chain's stored end when the
// stream is ahead of the head (a responder that died appended beyond the
// head it wrote); a later one that finds its first record taken means the
// chain forked. A record not stored by writeDeadline (a failed publish is
// tried again until then) makes it return errAuditLost, now and on every
// later call.
func (s *session) flushAudit(ctx context.Context) error {
	if s.auditErr != nil {
		return s.auditErr
	}
	if len(s.auditPending) == 0 {
		return nil
	}
	wctx, cancel := context.WithDeadline(ctx, s.writeDeadline())
	defer cancel()
	head := audit.Chain{Seq: s.inc.AuditSeq, Head: s.inc.AuditHead}
	var err error
	if s.auditSynced {
		head, err = s.r.audit.Extend(wctx, head, s.auditPending...)
	} else {
		head, err = s.r.audit.Append(wctx, head, s.auditPending...)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.auditLost(err)
		return s.auditErr
	}
	s.auditSynced = true
	s.auditPending = s.auditPending[:0]
	s.inc.AuditSeq, s.inc.AuditHead = head.Seq, head.Head
	return nil
}

// views returns what expressions and templates see of the incident.
func (s *session) views() (playbooks.IncidentView, map[string]playbooks.StepView) {
	inc := s.inc
	iv := playbooks.IncidentView{ID: inc.ID, State: string(inc.State), Severity: inc.Severity,
		Exposures: len(inc.Exposures), Environments: inc.Environments()}
	steps := map[string]playbooks.StepView{}
	for _, st := range inc.Steps {
		steps[st.ID] = playbooks.StepView{Outcome: string(st.State), Outputs: st.Outputs}
	}
	return iv, steps
}

// snapshot is a copy of the incident for actions to read.
func (s *session) snapshot() *incident.Incident { return s.inc.Clone() }

func (s *session) runPlaybooks(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A blast radius found earlier (a step before a redelivery, or the
	// search on receipt) is what expressions see as exposure.blast.
	switch {
	case s.ev.Blast.Searched && s.inc.Blast == nil:
		s.applyBlast(s.ev.Blast)
	case s.inc.Blast != nil && !s.ev.Blast.Searched:
		s.ev.Blast = *s.inc.Blast
	}
	iv, _ := s.views()
	matched := s.r.playbooks.Load().Matching(s.ev, iv)
	if len(matched) == 0 {
		s.inc.State = incident.Unmatched
		s.inc.Lease = nil
		s.appendAudit(audit.Record{Kind: audit.KindNoPlaybook, Detail: "no playbook matches this exposure"})
		if err := s.save(ctx); err != nil {
			return err
		}
		s.log.Warn("no playbook matches the exposure")
		s.count("unmatched")
		_ = s.msg.Ack()
		return nil
	}
	if err := s.resolveOwner(ctx); err != nil {
		return err
	}
	for _, pb := range matched {
		if !containsString(s.inc.Playbooks, pb.Name) {
			s.inc.Playbooks = append(s.inc.Playbooks, pb.Name)
			s.appendAudit(audit.Record{Kind: audit.KindPlaybookMatched, Playbook: pb.Name})
		}
	}
	for _, pb := range matched {
		for i, st := range pb.Steps {
			if s.r.stopping.Load() {
				return errStopping
			}
			done, err := s.runStep(ctx, pb, st)
			if err != nil {
				return err
			}
			if done {
				return nil // the message was acked, naked or terminated (or parked for an approval)
			}
			if rec := s.inc.Step(pb.Name + "/" + st.ID); rec != nil && rec.State == incident.StepDenied {
				s.haltAfterDenial(pb, i+1, st.ID) // approval.go
				break
			}
		}
	}
	now := s.r.now()
	kind := audit.KindIncidentCompleted
	s.inc.State = incident.Completed
	if s.inc.RevokedAt != nil {
		s.inc.State = incident.Contained
		kind = audit.KindIncidentContained
	}
	s.inc.ClosedAt = &now
	s.inc.Lease = nil
	s.inc.Error = ""
	detail := ""
	if ttr, ok := s.inc.TimeToRevoke(); ok {
		detail = "time to revoke " + ttr.Round(time.Microsecond).String()
	}
	s.appendAudit(audit.Record{Kind: kind, Detail: detail})
	if err := s.save(ctx); err != nil {
		return err
	}
	s.count(string(s.inc.State))
	_ = s.msg.Ack()
	s.log.WithField("state", s.inc.State).Info("incident " + string(s.inc.State))
	return nil
}

// applyBlast records a blast radius on the incident and the exposure, and
// raises the severity when the key is reused across environments.
func (s *session) applyBlast(b exposure.Blast) {
	s.ev.Blast = b
	s.inc.Blast = &b
	if b.ReusedAcrossEnvs && s.inc.RaiseSeverity("critical") {
		s.appendAudit(audit.Record{Kind: audit.KindSeverityRaised,
			Detail: fmt.Sprintf("severity raised to critical: the key is reused across environments (%s)", strings.Join(b.Environments, ", "))})
	}
}

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// runStep runs one step. done reports that the message was settled (naked for
// a retry, or terminated) and the playbooks must stop here.
func (s *session) runStep(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step) (done bool, err error) {
	key := pb.Name + "/" + st.ID
	rec := s.inc.Step(key)
	if rec != nil && rec.State.Done() {
		return false, nil
	}
	// An earlier attempt that started and recorded no outcome, or that
	// failed retryably, may have had its effect (a lost answer, a 502 from
	// a proxy after the provider acted): the next one runs carefully
	// (Input.Resumed: the revoke action first asks whether the key is
	// still live).
	var prior incident.StepState
	if rec != nil {
		prior = rec.State
	}
	resumed := prior == incident.StepStarted || prior == incident.StepRetrying
	iv, views := s.views()
	if rec != nil && rec.State == incident.StepAwaitingApproval {
		// A parked approval step: its condition held when it asked; now only
		// the decision matters (approval.go).
		with, _ := st.Render(playbooks.Data{Exposure: s.ev, Steps: views, Incident: iv, Owner: s.owner()})
		return s.runApproval(ctx, pb, st, key, with)
	}
	env := playbooks.Env{Exposure: s.ev, Steps: views, Incident: iv, Owner: s.owner()}
	ok, err := st.Condition(env)
	if err != nil {
		return true, s.fail(ctx, pb, key, fmt.Errorf("step %s: if: %w", st.ID, err))
	}
	if !ok {
		rec = s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
		rec.State, rec.Detail = incident.StepSkipped, "condition false: "+st.If
		s.appendAudit(audit.Record{Kind: audit.KindStepSkipped, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Detail: rec.Detail})
		s.r.metrics.Steps.WithLabelValues(st.Uses, s.ev.Secret.Provider, "skipped").Inc()
		s.dirty = true
		return false, nil
	}
	with, err := st.Render(playbooks.Data{Exposure: s.ev, Steps: views, Incident: iv, Owner: s.owner()})
	if err != nil {
		return true, s.fail(ctx, pb, key, fmt.Errorf("step %s: %w", st.ID, err))
	}
	if st.Uses == playbooks.ApprovalAction {
		return s.runApproval(ctx, pb, st, key, with) // approval.go
	}
	action, ok := s.r.actions[st.Uses]
	if !ok {
		return true, s.fail(ctx, pb, key, fmt.Errorf("step %s: action %q is not available in this deployment", st.ID, st.Uses))
	}
	if h := s.r.Hooks.BeforeStep; h != nil {
		if err := h(ctx, s.id, key); err != nil {
			return false, fmt.Errorf("%w: %v", errAbandoned, err)
		}
	}
	start := s.r.now()
	rec = s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
	rec.State, rec.Attempts, rec.StartedAt, rec.EndedAt, rec.Error, rec.Class = incident.StepStarted, rec.Attempts+1, &start, nil, "", ""
	s.appendAudit(audit.Record{Kind: audit.KindStepStarted, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Attempt: rec.Attempts,
		Detail: resumeDetail(prior)})
	s.dirty = true
	if action.Spec().SideEffect {
		// The intent record: written before the side effect, so that a crash
		// during it makes the redelivery resume carefully (Input.Resumed).
		if err := s.save(ctx); err != nil {
			return false, err
		}
	}

	in := &step.Input{Exposure: s.ev, Incident: s.snapshot(), Credential: s.cred, With: with, Playbook: pb.Name,
		StepID: st.ID, Steps: views, Owner: s.owner(), Resumed: resumed, Log: s.log.WithField("step", st.ID)}
	s.mu.Unlock()
	res, runErr := s.attempts(ctx, st, action, in)
	runErr = providers.ScrubError(runErr, s.cred.Secret)
	s.mu.Lock()
	if h := s.r.Hooks.AfterAction; h != nil {
		if err := h(ctx, s.id, key); err != nil {
			return false, fmt.Errorf("%w: %v", errAbandoned, err)
		}
	}

	end := s.r.now()
	rec = s.inc.Step(key)
	rec.EndedAt = &end
	dur := end.Sub(start)
	s.r.metrics.StepDuration.WithLabelValues(st.Uses, s.ev.Secret.Provider).Observe(dur.Seconds())
	class, after := classify(runErr)
	if runErr == nil || class == classDone {
		if runErr != nil {
			res = step.Result{Detail: "already done: " + runErr.Error(), Outputs: map[string]any{"already_done": true}}
		}
		rec.State, rec.Outputs, rec.Detail, rec.Calls = incident.StepSucceeded, res.Outputs, res.Detail, res.Calls
		kind := audit.KindStepSucceeded
		switch {
		case res.DryRun:
			rec.State, kind = incident.StepDryRun, audit.KindStepDryRun
		case res.Skipped:
			rec.State, kind = incident.StepSkipped, audit.KindStepSkipped
		}
		switch res.Effect {
		case step.EffectVerified:
			s.inc.VerifiedAt = &end
		case step.EffectRevoked:
			if s.inc.RevokedAt == nil {
				s.inc.RevokedAt = &end
				if ttr, ok := s.inc.TimeToRevoke(); ok {
					s.r.metrics.TimeToRevoke.WithLabelValues(s.ev.Secret.Provider).Observe(ttr.Seconds())
				}
			}
		case step.EffectNotified:
			s.inc.NotifiedAt = &end
		}
		if res.Blast != nil {
			s.applyBlast(*res.Blast)
		}
		s.appendAudit(audit.Record{Kind: kind, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Attempt: rec.Attempts,
			DurationMS: ms(dur), Outcome: string(rec.State), Detail: res.Detail})
		s.r.metrics.Steps.WithLabelValues(st.Uses, s.ev.Secret.Provider, string(rec.State)).Inc()
		s.dirty = true // written with the next intent record or the final write
		return false, nil
	}

	rec.Error, rec.Class = runErr.Error(), class.String()
	s.r.metrics.Steps.WithLabelValues(st.Uses, s.ev.Secret.Provider, "failed_"+class.String()).Inc()
	if ctx.Err() != nil {
		// We were stopped mid-step: leave the step as started so that the
		// redelivery resumes it carefully.
		rec.State, rec.EndedAt = incident.StepStarted, nil
		return false, runErr
	}
	// The budget is the step's own attempts, kept on the incident across
	// redeliveries: deliveries spent on crashes or lease waits do not count.
	if class == classRetryable && rec.Attempts < s.r.cfg.MaxDeliver {
		// The delay grows with the step's own failed attempts too, not
		// with the message's deliveries: those spent on crashes and lease
		// waits would make a first transient failure wait minutes.
		delay := s.r.backoff(uint64(rec.Attempts), after)
		rec.State = incident.StepRetrying
		s.inc.State = incident.Retrying
		s.inc.Lease = nil
		s.appendAudit(audit.Record{Kind: audit.KindStepRetrying, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Attempt: rec.Attempts,
			DurationMS: ms(dur), Outcome: "retrying", Error: rec.Error, Detail: "redelivery in " + delay.String()})
		if err := s.save(ctx); err != nil {
			return false, err
		}
		s.count("retry")
		s.log.WithError(runErr).WithField("delay", delay).Warn("step failed; will retry")
		_ = s.msg.NakWithDelay(delay)
		return true, nil
	}
	rec.State = incident.StepFailed
	s.appendAudit(audit.Record{Kind: audit.KindStepFailed, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Attempt: rec.Attempts,
		DurationMS: ms(dur), Outcome: "failed", Error: rec.Error})
	if class == classRetryable {
		runErr = fmt.Errorf("attempts exhausted (%d): %w", rec.Attempts, runErr)
	}
	return true, s.fail(ctx, pb, key, runErr)
}

// resumeDetail says, on a step.started record, why the attempt runs
// carefully (Input.Resumed); prior is the step's state before it.
func resumeDetail(prior incident.StepState) string {
	switch prior {
	case incident.StepStarted:
		return "resuming an interrupted attempt"
	case incident.StepRetrying:
		return "retrying after a failed attempt, whose effect may have landed"
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// attempts runs an action with the step's timeout and in-process retries.
func (s *session) attempts(ctx context.Context, st *playbooks.Step, a step.Action, in *step.Input) (step.Result, error) {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, st.Timeout)
		res, err := a.Run(actx, in)
		cancel()
		if err == nil {
			return res, nil
		}
		err = providers.ScrubError(err, s.cred.Secret)
		class, after := classify(err)
		if class != classRetryable || n >= st.Retry.Attempts || ctx.Err() != nil {
			return res, err
		}
		delay := st.Retry.Delay(n, after)
		if delay > s.r.cfg.MaxInProcessWait {
			return res, err
		}
		var pe *providers.Error
		if errors.As(err, &pe) && pe.Status == 0 {
			in.Resumed = true // no answer arrived: the outcome of that attempt is unknown
		}
		s.r.metrics.Retries.WithLabelValues(st.Uses, s.ev.Secret.Provider).Inc()
		in.Log.WithError(err).WithField("delay", delay).Info("retrying step")
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// fail marks the incident failed, runs the playbook's on_failure steps,
// copies the message to the dead-letter subject and terminates it.
func (s *session) fail(ctx context.Context, pb *playbooks.Playbook, key string, cause error) error {
	return s.failWith(ctx, []*playbooks.Playbook{pb}, key, cause)
}

// failWith is fail with the on_failure steps of every playbook in pbs (none:
// the incident fails and the message is dead-lettered, nobody is paged).
func (s *session) failWith(ctx context.Context, pbs []*playbooks.Playbook, key string, cause error) error {
	now := s.r.now()
	s.inc.State = incident.Failed
	s.inc.Error = cause.Error()
	s.inc.ClosedAt = &now
	names := make([]string, len(pbs))
	for i, pb := range pbs {
		names[i] = pb.Name
	}
	s.appendAudit(audit.Record{Kind: audit.KindIncidentFailed, Playbook: strings.Join(names, ","), Step: key, Error: s.inc.Error})
	if err := s.save(ctx); err != nil {
		return err
	}
	s.log.WithError(cause).Error("incident failed")
	for _, pb := range pbs {
		for _, st := range pb.OnFailure {
			k := pb.Name + "/" + st.ID
			if r := s.inc.Step(k); r != nil && r.State.Done() {
				continue
			}
			s.runFailureStep(ctx, pb, st)
		}
	}
	s.inc.Lease = nil
	if err := s.save(ctx); err != nil {
		return err
	}
	s.r.deadLetter(ctx, s.msg, s.ev, s.id, s.inc.Error)
	s.count("failed")
	_ = s.msg.Term()
	return nil
}

// runFailureStep runs an on_failure step once, best effort.
func (s *session) runFailureStep(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step) {
	iv, views := s.views()
	rec := s.inc.UpsertStep(pb.Name, st.ID, st.Uses)
	start := s.r.now()
	rec.StartedAt, rec.Attempts = &start, rec.Attempts+1
	a, ok := s.r.actions[st.Uses]
	var res step.Result
	var err error
	if !ok {
		err = fmt.Errorf("action %q is not available", st.Uses)
	} else if with, rerr := st.Render(playbooks.Data{Exposure: s.ev, Steps: views, Incident: iv, Owner: s.owner()}); rerr != nil {
		err = rerr
	} else {
		in := &step.Input{Exposure: s.ev, Incident: s.snapshot(), Credential: s.cred, With: with, Playbook: pb.Name,
			StepID: st.ID, Steps: views, Owner: s.owner(), Log: s.log.WithField("step", st.ID)}
		res, err = s.attempts(ctx, st, a, in)
		err = providers.ScrubError(err, s.cred.Secret)
	}
	end := s.r.now()
	rec.EndedAt = &end
	kind := audit.KindStepSucceeded
	switch {
	case err != nil:
		rec.State, rec.Error, kind = incident.StepFailed, err.Error(), audit.KindStepFailed
	case res.DryRun:
		rec.State, rec.Detail, kind = incident.StepDryRun, res.Detail, audit.KindStepDryRun
	case res.Skipped:
		rec.State, rec.Detail, rec.Outputs, kind = incident.StepSkipped, res.Detail, res.Outputs, audit.KindStepSkipped
	default:
		rec.State, rec.Detail, rec.Outputs = incident.StepSucceeded, res.Detail, res.Outputs
		if res.Effect == step.EffectNotified {
			s.inc.NotifiedAt = &end
		}
	}
	s.appendAudit(audit.Record{Kind: kind, Playbook: pb.Name, Step: st.ID, Uses: st.Uses, Attempt: rec.Attempts,
		DurationMS: ms(end.Sub(start)), Outcome: string(rec.State), Detail: rec.Detail, Error: rec.Error})
	s.r.metrics.Steps.WithLabelValues(st.Uses, s.ev.Secret.Provider, string(rec.State)).Inc()
}

// deadLetter copies a message to firebreak.dead.<source>.<provider> with the
// reason in headers. The reason is an error string, which never carries a
// secret (provider errors are scrubbed).
func (r *Responder) deadLetter(ctx context.Context, msg jetstream.Msg, ev *exposure.Event, incidentID, reason string) {
	meta, _ := msg.Metadata()
	subject := "firebreak.dead.unknown.unknown"
	source, provider := "unknown", "unknown"
	if ev != nil {
		subject, source, provider = exposure.DeadSubject(ev), ev.Source.Kind, ev.Secret.Provider
	}
	m := &nats.Msg{Subject: subject, Data: msg.Data(), Header: nats.Header{}}
	m.Header.Set("Firebreak-Reason", truncate(reason, 1000))
	m.Header.Set("Firebreak-Incident", incidentID)
	if meta != nil {
		m.Header.Set("Firebreak-Stream-Seq", strconv.FormatUint(meta.Sequence.Stream, 10))
		m.Header.Set("Firebreak-Deliveries", strconv.FormatUint(meta.NumDelivered, 10))
	}
	id := "dead:" + incidentID
	if meta != nil {
		id = "dead:" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
		r.log.WithError(err).Error("dead-letter publish failed")
	}
	r.metrics.DeadLetters.WithLabelValues(source, provider).Inc()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ownerTimeout bounds owner resolution, which must never hold up
// containment for long.
const ownerTimeout = 15 * time.Second

// resolveOwner resolves the key's owner once per incident, before the first
// step runs, and records it on the incident (stored with the next write) and
// in the audit trail, so that redeliveries and every step see the same
// owner. Callers hold s.mu; it is released during the lookups (they do I/O)
// so the lease heartbeat runs.
func (s *session) resolveOwner(ctx context.Context) error {
	if s.inc.Owner != nil || s.r.owners == nil {
		return nil
	}
	s.mu.Unlock()
	octx, cancel := context.WithTimeout(ctx, ownerTimeout)
	o := s.r.owners.Resolve(octx, s.ev, s.cred)
	cancel()
	s.mu.Lock()
	s.inc.Owner = &incident.Owner{Name: o.Name, Team: o.Team, Email: o.Email, Slack: o.Slack, PagerDuty: o.PagerDuty,
		Service: o.Service, Jira: o.Jira, GitHub: o.GitHub, Rule: o.Rule}
	who := firstNonEmpty(o.Team, o.Name, o.Email, o.GitHub, "nobody")
	s.appendAudit(audit.Record{Kind: audit.KindOwnerResolved, Detail: fmt.Sprintf("owner %s (rule %s)", who, o.Rule)})
	// Written with the next write (the first intent record, or the final
	// one): every step outcome stored is stored with this owner, and a
	// redelivery before that write resolves the owner again.
	s.dirty = true
	return nil
}

// owner is the resolved owner as playbooks see it.
func (s *session) owner() playbooks.Owner {
	o := s.inc.Owner
	if o == nil {
		return playbooks.Owner{}
	}
	return playbooks.Owner{Name: o.Name, Team: o.Team, Email: o.Email, Slack: o.Slack, PagerDuty: o.PagerDuty,
		Service: o.Service, Jira: o.Jira, GitHub: o.GitHub, Rule: o.Rule}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
