package cluster

import (
	"bytes"
	"context"
	"encoding/json"
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
			for _, raw := range audit.Records(m.Data()) {
				var r audit.Record
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, fmt.Errorf("audit record: %w", err)
				}
				out[r.Incident] = append(out[r.Incident], r)
			}
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

// StepIntervals pairs each step.started record with the step's next outcome,
// in chain order (records retried after a failed publish are stored after
// later ones, so stream order is not chain order).
func StepIntervals(recs []audit.Record) []Interval {
	recs = append([]audit.Record(nil), recs...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
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
		case audit.KindStepSucceeded, audit.KindStepFailed, audit.KindStepRetrying, audit.KindStepDryRun, audit.KindStepSkipped:
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
// before the next began. An attempt without a recorded outcome ended, at the
// latest, at the first of ends[its actor] after it began: when its process
// was killed, or when its responder logged that the session stopped
// (SessionStops). The responder never goes on past a record it could not
// store (it stops the session, logged), so an attempt with neither is an
// error, as is any overlap.
func CheckExclusive(incidentID string, recs []audit.Record, ends map[string][]time.Time) error {
	iv := StepIntervals(recs)
	sort.Slice(iv, func(i, j int) bool { return iv[i].Start.Before(iv[j].Start) })
	for i := range iv {
		if !iv[i].Open {
			continue
		}
		var end time.Time
		for _, k := range ends[iv[i].Actor] {
			if k.After(iv[i].Start) && (end.IsZero() || k.Before(end)) {
				end = k
			}
		}
		if end.IsZero() {
			return fmt.Errorf("incident %s: step %s attempt %d by %s started at %s and has no recorded outcome, no logged stop and no kill after it",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano))
		}
		iv[i].End = end
	}
	for i := 1; i < len(iv); i++ {
		if iv[i].Start.Before(iv[i-1].End) {
			how := "recorded"
			if iv[i-1].Open {
				how = "its process's kill or logged stop"
			}
			return fmt.Errorf("incident %s: step %s (attempt %d by %s, from %s) began while step %s (attempt %d by %s, %s → %s, end from %s) was running",
				incidentID, iv[i].Step, iv[i].Attempt, iv[i].Actor, iv[i].Start.Format(time.RFC3339Nano),
				iv[i-1].Step, iv[i-1].Attempt, iv[i-1].Actor, iv[i-1].Start.Format(time.RFC3339Nano), iv[i-1].End.Format(time.RFC3339Nano), how)
		}
	}
	return nil
}

// sessionStopMessages are the responder's log messages for a session that
// ends without recording the outcome of its last step (responders/session.go
// and responder.go): its lease was lost or not renewed in time, a write of
// the incident or of an audit record failed, or a graceful stop handed the
// incident over. Each is logged once the session's work has ended (its last
// action returned).
var sessionStopMessages = map[string]bool{
	"stopped before finishing; the message will be redelivered":                    true,
	"incident taken over by another responder; leaving the message for redelivery": true,
	"stopping: incident handed over for another instance to resume":                true,
	"stopping: could not release the incident; it resumes when its lease expires":  true,
}

// SessionStops reads JSON process logs and returns, per incident and per
// responder instance (the audit records' actor), when a session logged that
// it ended without recording its last step's outcome (sessionStopMessages).
func SessionStops(logPaths ...string) (map[string]map[string][]time.Time, error) {
	out := map[string]map[string][]time.Time{}
	err := eachLogLine(logPaths, func(e logLine) {
		if sessionStopMessages[e.Msg] && e.Incident != "" && e.Instance != "" {
			if out[e.Incident] == nil {
				out[e.Incident] = map[string][]time.Time{}
			}
			out[e.Incident][e.Instance] = append(out[e.Incident][e.Instance], e.Time)
		}
	})
	return out, err
}

// Instances returns the responder instance names (audit actors) a process
// log names: a process gets a new one each time it starts.
func Instances(logPath string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := eachLogLine([]string{logPath}, func(e logLine) {
		if e.Instance != "" && !seen[e.Instance] {
			seen[e.Instance] = true
			out = append(out, e.Instance)
		}
	})
	return out, err
}

type logLine struct {
	Msg      string    `json:"msg"`
	Incident string    `json:"incident"`
	Instance string    `json:"instance"`
	Time     time.Time `json:"time"`
}

func eachLogLine(paths []string, fn func(logLine)) error {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e logLine
			if !bytes.Contains(line, []byte(`"instance"`)) || json.Unmarshal(line, &e) != nil {
				continue
			}
			fn(e)
		}
	}
	return nil
}
