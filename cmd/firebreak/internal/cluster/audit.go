package cluster

import (
	"context"
	"encoding/json"
	"fmt"
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

// CheckExclusive verifies that no two step attempts of one incident ran at
// the same time (per-secret ordering): sorted by start, each attempt ended
// before the next began. An attempt without an outcome is allowed only if it
// started before a process was killed (at one of killedAt); it is taken to
// have ended at that kill, and the next attempt must start after it.
func CheckExclusive(incidentID string, recs []audit.Record, killedAt []time.Time) error {
	iv := StepIntervals(recs)
	sort.Slice(iv, func(i, j int) bool { return iv[i].Start.Before(iv[j].Start) })
	for i := range iv {
		if !iv[i].Open {
			continue
		}
		var kill time.Time
		for _, k := range killedAt {
			if k.After(iv[i].Start) && (kill.IsZero() || k.Before(kill)) {
				kill = k
			}
		}
		if kill.IsZero() {
			return fmt.Errorf("incident %s: step %s attempt %d by %s started at %s and never ended, with no process killed after it",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano))
		}
		iv[i].End = kill
	}
	for i := 1; i < len(iv); i++ {
		if iv[i].Start.Before(iv[i-1].End) {
			return fmt.Errorf("incident %s: step %s (attempt %d by %s, from %s) began while step %s (attempt %d by %s, %s → %s) was running",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano),
				iv[i-1].Step, iv[i-1].Attempt, iv[i-1].Actor, iv[i-1].Start.Format(time.RFC3339Nano), iv[i-1].End.Format(time.RFC3339Nano))
		}
	}
	return nil
}
