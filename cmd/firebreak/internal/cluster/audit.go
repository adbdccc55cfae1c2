package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
)

// AuditRecords reads the whole audit stream, grouped by incident, in order
// (retrying while the cluster settles after a failure).
func AuditRecords(ctx context.Context, js jetstream.JetStream) (map[string][]audit.Record, error) {
	var err error
	for i := 0; i < 20; i++ {
		var out map[string][]audit.Record
		if out, err = readAudit(ctx, js); err == nil {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, err
}

func readAudit(ctx context.Context, js jetstream.JetStream) (map[string][]audit.Record, error) {
	s, err := js.Stream(ctx, exposure.StreamAudit)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]audit.Record{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for n := uint64(0); n < info.State.Msgs; {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var r audit.Record
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				return nil, fmt.Errorf("audit record: %w", err)
			}
			out[r.Incident] = append(out[r.Incident], r)
		}
		if batch.Error() != nil {
			return nil, batch.Error()
		}
		if got == 0 {
			return nil, fmt.Errorf("audit stream: read %d of %d records", n, info.State.Msgs)
		}
		n += uint64(got)
	}
	return out, nil
}

// Interval is one attempt of one step of an incident, as its audit records
// tell it: from step.started to its outcome. Open means no outcome was ever
// recorded (the process running it died).
type Interval struct {
	Step       string
	Attempt    int
	Actor      string
	Start, End time.Time
	Open       bool
}

// StepIntervals pairs each step.started record with the step's next outcome.
func StepIntervals(recs []audit.Record) []Interval {
	var out []Interval
	open := map[string]int{} // step key → index in out of its open attempt
	for _, r := range recs {
		key := r.Playbook + "/" + r.Step
		switch r.Kind {
		case audit.KindStepStarted:
			if i, ok := open[key]; ok {
				out[i].Open = true // started again without an outcome: the first never ended
			}
			out = append(out, Interval{Step: key, Attempt: r.Attempt, Actor: r.Actor, Start: r.At})
			open[key] = len(out) - 1
		case audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepRetrying, audit.KindStepDryRun:
			if i, ok := open[key]; ok {
				out[i].End = r.At
				delete(open, key)
			}
		}
	}
	for _, i := range open {
		out[i].Open = true
	}
	return out
}

// ErrUnproven marks an overlap CheckExclusive inferred from an attempt whose
// outcome record is missing from the audit stream (records can be lost
// while a stream elects a leader): the attempt's end is a bound, not a fact.
var ErrUnproven = errors.New("overlap inferred from a missing audit record")

// CheckExclusive verifies that no two step attempts of one incident ran at
// the same time (per-secret ordering): sorted by start, each attempt ended
// before the next began. An attempt without a recorded outcome is taken to
// have ended at the earliest of: its process's kill (one of killedAt), its
// responder's logged stop of the session (stops, from SessionStops), or the
// start of the same responder's next attempt on the incident (a session
// moves on only once a step ended). An overlap that depends on such an
// inferred end, or an attempt with no bound at all, is reported wrapping
// ErrUnproven; an overlap of two recorded attempts is a plain error.
func CheckExclusive(incidentID string, recs []audit.Record, killedAt []time.Time, stops []time.Time) error {
	iv := StepIntervals(recs)
	sort.Slice(iv, func(i, j int) bool { return iv[i].Start.Before(iv[j].Start) })
	var unproven error
	for i := range iv {
		if !iv[i].Open {
			continue
		}
		bounds := append(append([]time.Time(nil), killedAt...), stops...)
		for j := i + 1; j < len(iv); j++ {
			if iv[j].Actor == iv[i].Actor {
				bounds = append(bounds, iv[j].Start)
				break
			}
		}
		var end time.Time
		for _, k := range bounds {
			if k.After(iv[i].Start) && (end.IsZero() || k.Before(end)) {
				end = k
			}
		}
		if end.IsZero() {
			unproven = fmt.Errorf("incident %s: step %s attempt %d by %s started at %s and has no recorded or inferable end: %w",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano), ErrUnproven)
			end = iv[i].Start
		}
		iv[i].End = end
	}
	for i := 1; i < len(iv); i++ {
		if iv[i].Start.Before(iv[i-1].End) {
			err := fmt.Errorf("incident %s: step %s (attempt %d by %s, from %s) began while step %s (attempt %d by %s, %s → %s) was running",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano),
				iv[i-1].Step, iv[i-1].Attempt, iv[i-1].Actor, iv[i-1].Start.Format(time.RFC3339Nano), iv[i-1].End.Format(time.RFC3339Nano))
			if iv[i-1].Open {
				return fmt.Errorf("%w (its end is inferred: %w)", err, ErrUnproven)
			}
			return err
		}
	}
	return unproven
}

// sessionStopMessages are the responder's log messages for a session that
// stops its work without recording the outcome of its last step
// (responders/session.go): its lease could not be renewed or was taken
// over (its work context is cancelled then), or a write of the incident
// failed (the session ends there and leaves the message for redelivery).
// Each is logged once the session's work stopped.
var sessionStopMessages = map[string]bool{
	"stopped before finishing; the message will be redelivered":                    true,
	"incident lease expires before it can be renewed; stopping":                    true,
	"incident lease lost to another responder; stopping":                           true,
	"incident taken over by another responder; leaving the message for redelivery": true,
}

// SessionStops reads JSON process logs and returns, per incident, when a
// responder logged that its session stopped without recording its last
// step's outcome (sessionStopMessages).
func SessionStops(logPaths ...string) (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	for _, p := range logPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e struct {
				Msg      string    `json:"msg"`
				Incident string    `json:"incident"`
				Time     time.Time `json:"time"`
			}
			if !bytes.Contains(line, []byte(`"incident`)) || json.Unmarshal(line, &e) != nil {
				continue
			}
			if sessionStopMessages[e.Msg] && e.Incident != "" {
				out[e.Incident] = append(out[e.Incident], e.Time)
			}
		}
	}
	return out, nil
}
