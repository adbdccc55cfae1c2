package responders

import (
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// resumes reports whether this message resumes inc's pending approval.
func (s *session) resumes(inc *incident.Incident) bool {
	id := s.resumeFor()
	p := inc.PendingApproval()
	return id != "" && p != nil && p.ID == id
}

// reopens reports whether this message is a replay that reopens inc: a
// finished incident (contained, completed, failed, unmatched; never one
// people resolved) that this replay has not reopened yet, and that nobody
// is acting on.
func (s *session) reopens(inc *incident.Incident, now time.Time) bool {
	id := s.header(exposure.HeaderReplay)
	if id == "" || inc.LastReplay == id || inc.Lease.HeldByOther(s.holder, now) {
		return false
	}
	switch inc.State {
	case incident.Contained, incident.Completed, incident.Failed, incident.Unmatched:
		return true
	}
	return false
}

// replayRunsAgain reports whether a reopened incident runs st again: failed,
// retrying and dry-run steps, and the on_failure steps (whose ids the parser
// makes on_failure_N). Succeeded and skipped steps stay done.
func replayRunsAgain(st incident.Step) bool {
	return st.State == incident.StepFailed || st.State == incident.StepRetrying || st.State == incident.StepDryRun ||
		strings.Contains(st.Key, "/on_failure_")
}

// reopen makes a finished incident runnable again for a replay. Succeeded
// and skipped steps stay done; failed, retrying and dry-run steps, and the
// on_failure steps, are cleared so that they run again.
func (s *session) reopen(inc *incident.Incident) {
	id, by := s.header(exposure.HeaderReplay), s.header(exposure.HeaderReplayBy)
	prev := inc.State
	kept := inc.Steps[:0]
	var cleared []string
	for _, st := range inc.Steps {
		if replayRunsAgain(st) {
			cleared = append(cleared, st.Key)
		} else {
			kept = append(kept, st)
		}
	}
	inc.Steps = kept
	inc.LastReplay = id
	inc.State, inc.Error, inc.ClosedAt = incident.Running, "", nil
	detail := "replay " + id + " reopened the " + string(prev) + " incident"
	if len(cleared) > 0 {
		detail += "; runs again: " + strings.Join(cleared, ", ")
	}
	s.appendAudit(audit.Record{Kind: audit.KindIncidentReplayed, Detail: detail, Actor: nonEmpty(by, "replay"),
		Data: map[string]string{"replay": id, "previous_state": string(prev)}})
}
