package responders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// runUnresolved handles an alert exposure whose secret could not be fetched
// (cause: a permanent error, or retries spent). Its incident is the one keyed
// by the alert (Resolver.KeyByAlert): created or found, failed with cause,
// the on_failure steps of the playbooks the alert matches run (it carries the
// provider GitHub named in the webhook, not the secret), and the message is
// dead-lettered with that incident's id and terminated. A later handling
// whose fetch succeeds (a replay of this incident once the token is fixed)
// is keyed by the secret and runs the playbooks as usual.
//
// A resolved alert only needs its sighting recorded: it is dead-lettered
// with the incident id, nothing fails and nobody is paged.
func (s *session) runUnresolved(ctx context.Context, cause error) {
	if s.resolvedAlert() {
		s.log.WithError(cause).Warn("could not fetch the secret of a resolved alert: dead-lettered")
		s.r.deadLetter(ctx, s.msg, s.ev, s.id, cause.Error())
		s.count("failed")
		_ = s.msg.Term()
		return
	}
	res, err := s.acquireUnresolved(ctx)
	switch {
	case err != nil:
		s.log.WithError(err).Warn("could not record the failure on its incident; will retry")
		s.count("retry")
		_ = s.msg.NakWithDelay(s.r.deliveryBackoff(s.meta, 0))
		return
	case res == busy:
		s.count("busy")
		_ = s.msg.NakWithDelay(s.busyFor + 100*time.Millisecond)
		return
	case res == finished:
		// This exposure failed its incident already (a redelivery whose
		// term was lost): it is dead-lettered already.
		s.count("duplicate")
		_ = s.msg.Term()
		return
	}
	workCtx, release := s.keepLease(ctx)
	defer release()
	if err := s.failUnresolved(workCtx, cause); err != nil {
		s.log.WithError(err).Warn("could not record the failure on its incident; the message will be redelivered")
		s.count("interrupted")
		_ = s.msg.NakWithDelay(time.Second)
	}
}

// acquireUnresolved creates or finds the alert's incident and takes its
// lease. finished: the incident already failed with this exposure.
func (s *session) acquireUnresolved(ctx context.Context) (acquireResult, error) {
	for attempt := 0; attempt < 50; attempt++ {
		now := s.r.now()
		inc, rev, err := s.r.store.Get(ctx, s.id)
		if errors.Is(err, incident.ErrNotFound) {
			detail := fmt.Sprintf("%s alert %s#%d from %s; its secret could not be fetched",
				nonEmpty(s.ev.Secret.Provider, "unknown"), s.ev.Alert.Repository, s.ev.Alert.Number, s.ev.Source.Kind)
			if exists, err := s.create(ctx, s.newIncident(now), detail); exists {
				continue
			} else if err != nil {
				return 0, err
			}
			return acquired, nil
		}
		if err != nil {
			return 0, err
		}
		s.inc, s.rev = inc, rev
		if inc.Lease.HeldByOther(s.holder, now) {
			s.busyFor = inc.Lease.Until.Sub(now)
			return busy, nil
		}
		merged := inc.AddExposure(s.exposureRecord())
		reopens := s.reopens(inc, now)
		if !merged && !reopens && inc.State == incident.Failed {
			return finished, nil
		}
		if merged {
			s.appendAudit(audit.Record{Kind: audit.KindExposureMerged, Exposure: s.ev.ID,
				Detail: fmt.Sprintf("seen again from %s at %s", s.ev.Source.Kind, s.ev.Location.Display)})
		}
		if reopens {
			s.reopen(inc)
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

// failUnresolved fails the leased incident with cause and runs the matching
// playbooks' on_failure steps (failWith): then it dead-letters and
// terminates the message.
func (s *session) failUnresolved(ctx context.Context, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	iv, _ := s.views()
	matched := s.r.playbooks.Load().Matching(s.ev, iv)
	if len(matched) == 0 {
		s.appendAudit(audit.Record{Kind: audit.KindNoPlaybook,
			Detail: fmt.Sprintf("no playbook matches the alert (provider %s): no on_failure step runs", nonEmpty(s.ev.Secret.Provider, "unknown"))})
	} else {
		if err := s.resolveOwner(ctx); err != nil {
			return err
		}
		for _, pb := range matched {
			if !containsString(s.inc.Playbooks, pb.Name) {
				s.inc.Playbooks = append(s.inc.Playbooks, pb.Name)
				s.appendAudit(audit.Record{Kind: audit.KindPlaybookMatched, Playbook: pb.Name})
			}
		}
	}
	return s.failWith(ctx, matched, "", cause)
}

// supersedeAlertIncident closes the incident keyed by this exposure's alert
// once a later handling of the alert has fetched its secret: the incident
// failed because the secret could not be fetched (runUnresolved), and the
// response goes on in the secret's own incident (s.id). The alert's incident
// is resolved as superseded, naming s.id, with a record on its audit chain
// written under its lease (as a session writes). A replay (the recovery the
// failure calls for once the token is fixed) does this before its playbooks
// run; a later delivery of the alert (a reopened or validated webhook, the
// poller) does it after its message is acked, so the read it costs every
// alert stays off the time to revoke. Best effort: a failure is logged.
func (s *session) supersedeAlertIncident(ctx context.Context) {
	if s.ev.Alert == nil || s.r.resolver == nil || s.r.resolver.Fingerprinter == nil {
		return
	}
	aid := incident.IDFor(AlertFingerprint(s.r.resolver.Fingerprinter, s.ev.Alert))
	if aid == s.id {
		return // keyed by the alert still (no token): nothing superseded
	}
	replay := s.header(exposure.HeaderReplay)
	res := fmt.Sprintf("superseded by %s: replay %s fetched the alert's secret", s.id, replay)
	actor := nonEmpty(s.header(exposure.HeaderReplayBy), "replay")
	data := map[string]string{"superseded_by": s.id, "replay": replay}
	if replay == "" {
		res = fmt.Sprintf("superseded by %s: a later %s of the alert (%s) fetched its secret",
			s.id, nonEmpty(s.ev.Source.Kind, "delivery"), nonEmpty(s.ev.Alert.Action, "event"))
		actor = nonEmpty(s.ev.Alert.Sender, "firebreak")
		data = map[string]string{"superseded_by": s.id}
	}
	holder := s.holder + "/supersede"
	for attempt := 0; attempt < 5; attempt++ {
		now := s.r.now()
		inc, rev, err := s.r.store.Get(ctx, aid)
		if err != nil || inc.State != incident.Failed || inc.Lease.HeldByOther(holder, now) {
			return // none, not failed, or someone acts on it
		}
		inc.Lease = &incident.Lease{Holder: holder, Until: now.Add(s.r.cfg.LeaseTTL)}
		inc.UpdatedAt = now
		if rev, err = s.r.store.Update(ctx, inc, rev); errors.Is(err, incident.ErrConflict) {
			continue
		} else if err != nil {
			s.log.WithError(err).Warn("could not close the alert's failed incident")
			return
		}
		head, err := s.r.audit.Append(ctx, audit.Chain{Seq: inc.AuditSeq, Head: inc.AuditHead}, audit.Record{
			Kind: audit.KindIncidentResolved, Incident: aid, Exposure: s.ev.ID, Correlation: s.ev.Correlation,
			Detail: res, Actor: actor, Data: data})
		if err != nil {
			s.log.WithError(err).Warn("could not close the alert's failed incident; its lease runs out")
			return
		}
		inc.AuditSeq, inc.AuditHead = head.Seq, head.Head
		inc.State, inc.Resolution, inc.Lease = incident.Resolved, res, nil
		inc.ClosedAt, inc.UpdatedAt = &now, s.r.now()
		if _, err := s.r.store.Update(ctx, inc, rev); err != nil {
			s.log.WithError(err).Warn("could not close the alert's failed incident; its lease runs out")
		}
		return
	}
}
