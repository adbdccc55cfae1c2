package approvals

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Sweeper resumes parked incidents: a Request that is decided, or past its
// deadline (it records the timeout), gets its exposure re-published with the
// resume marker, and the responders pick it up like any exposure (lease,
// compare-and-set, intent records: nothing runs twice). Every serve runs one;
// resume messages carry a message id, so two sweepers publish one message.
type Sweeper struct {
	Store *Store
	JS    jetstream.JetStream
	// Pending reports whether the incident still waits for this approval; a
	// Request whose incident moved on is deleted.
	Pending func(ctx context.Context, incidentID, approvalID string) (bool, error)
	// Every is the sweep period (default 2s).
	Every time.Duration
	// Republish is how long after a resume message a still-stored Request is
	// resumed again (default 1m): the first one was lost or not yet handled.
	Republish time.Duration
	Log       logrus.FieldLogger
	Now       func() time.Time
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.WithError(err).Warn("approval sweep failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep makes one pass over the stored Requests.
func (s *Sweeper) Sweep(ctx context.Context) error {
	reqs, err := s.Store.List(ctx)
	if err != nil {
		return err
	}
	republish := s.Republish
	if republish <= 0 {
		republish = time.Minute
	}
	var errs []error
	for _, r := range reqs {
		now := s.now()
		if r.Decision == nil {
			if now.Before(r.Deadline) {
				continue
			}
			dr, err := s.Store.Decide(ctx, r.ID, Decision{Outcome: TimedOut, By: "timeout", Via: ViaTimeout}, now, nil)
			if err != nil && !errors.Is(err, ErrAlreadyDecided) {
				errs = append(errs, err)
				continue
			}
			r = dr
		}
		if r.ResumedAt != nil && now.Sub(*r.ResumedAt) < republish {
			continue
		}
		if s.Pending != nil {
			pending, err := s.Pending(ctx, r.Incident, r.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !pending && r.ResumedAt != nil {
				// Resumed and settled by a responder that stopped before
				// deleting the Request.
				errs = append(errs, s.Store.Delete(ctx, r.ID))
				continue
			}
		}
		errs = append(errs, s.Resume(ctx, r))
	}
	return errors.Join(errs...)
}

// Resume re-publishes the parked exposure with the resume marker and notes
// when. Call it right after a decision so that the incident resumes at once.
func (s *Sweeper) Resume(ctx context.Context, r *Request) error {
	st, err := s.JS.Stream(ctx, exposure.StreamExposures)
	if err != nil {
		return fmt.Errorf("resume %s: %w", r.ID, err)
	}
	m, err := st.GetMsg(ctx, r.StreamSeq)
	if err != nil {
		return fmt.Errorf("resume %s: read exposure %d: %w", r.ID, r.StreamSeq, err)
	}
	msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
	msg.Header.Set(exposure.HeaderResume, r.ID)
	if _, err := s.JS.PublishMsg(ctx, msg, jetstream.WithMsgID("resume:"+r.ID), jetstream.WithExpectStream(exposure.StreamExposures)); err != nil {
		return fmt.Errorf("resume %s: publish: %w", r.ID, err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur, rev, err := s.Store.Get(ctx, r.ID)
		if err != nil {
			return nil // already settled and deleted
		}
		now := s.now()
		cur.ResumedAt = &now
		if _, err := s.Store.Update(ctx, cur, rev); err == nil {
			return nil
		}
	}
	return nil
}
