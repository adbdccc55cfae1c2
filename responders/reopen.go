package responders

import (
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// notifyPrefix begins the names of the notification actions (notify.slack,
// notify.webhook, …).
const notifyPrefix = "notify."

// actingAlert reports whether the exposure is a GitHub alert whose action
// calls for a response: created, reopened, publicly_leaked or validated.
func (s *session) actingAlert() bool {
	if s.ev.Alert == nil {
		return false
	}
	switch s.ev.Alert.Action {
	case "created", "reopened", "publicly_leaked", "validated":
		return true
	}
	return false
}

// reopensResolved reports whether this exposure reopens inc: people resolved
// inc, the exposure is an acting alert seen for the first time (merged: a
// redelivery of the same exposure never reopens twice), and nobody is acting
// on inc. Incidents Firebreak finished itself (contained, completed) are not
// reopened by alerts: their sightings are merged.
func (s *session) reopensResolved(inc *incident.Incident, merged bool, now time.Time) bool {
	return inc.State == incident.Resolved && merged && s.actingAlert() && !inc.Lease.HeldByOther(s.holder, now)
}

// reopenResolved makes a resolved incident runnable again for a new acting
// alert. Steps are not repeated blindly: a succeeded step that acted at a
// provider (a revocation, a rotation, a write-back) stays done, so it is not
// sent again; steps without a side effect (verify) and skipped steps run
// again, so the key is checked afresh and a key still live is revoked by a
// revoke step that had not acted; notifications (notify.*) run again, so
// people hear the reopened run's outcome; failed, retrying and dry-run steps
// and on_failure steps run again, as after a replay.
func (s *session) reopenResolved(inc *incident.Incident) {
	kept := inc.Steps[:0]
	var again []string
	for _, st := range inc.Steps {
		a, known := s.r.actions[st.Uses]
		sideEffect := !known || a.Spec().SideEffect
		switch {
		case replayRunsAgain(st),
			st.State == incident.StepSkipped,
			st.State == incident.StepSucceeded && (!sideEffect || strings.HasPrefix(st.Uses, notifyPrefix)):
			again = append(again, st.Key)
		default:
			kept = append(kept, st)
		}
	}
	inc.Steps = kept
	resolution := inc.Resolution
	inc.Error, inc.ClosedAt, inc.Resolution = "", nil, ""
	a := s.ev.Alert
	alert := fmt.Sprintf("%s#%d", a.Repository, a.Number)
	detail := fmt.Sprintf("GitHub alert %s %s: reopened the incident people resolved (%s)", alert, a.Action, resolution)
	if len(again) > 0 {
		detail += "; runs again: " + strings.Join(again, ", ")
	}
	s.appendAudit(audit.Record{Kind: audit.KindIncidentReopened, Exposure: s.ev.ID, Detail: detail,
		Actor: nonEmpty(a.Sender, "github:"+a.Action),
		Data: map[string]string{"alert": alert, "action": a.Action, "delivery": s.ev.Source.DeliveryID,
			"previous_state": string(incident.Resolved), "resolution": resolution}})
}
