package incident

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Entry is one line of an incident's timeline: what people read at a glance.
type Entry struct {
	At       time.Time     `json:"at"`
	Offset   time.Duration `json:"offset_ns"` // since the first receipt
	Kind     string        `json:"kind"`      // received | matched | step | approval | closed
	Title    string        `json:"title"`     // "revoked", "verify failed", "approved"
	Detail   string        `json:"detail,omitempty"`
	State    string        `json:"state,omitempty"` // the step's state
	Step     string        `json:"step,omitempty"`  // playbook/step
	Uses     string        `json:"uses,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// stepTitles are the verbs people read for a successful step.
var stepTitles = map[string]string{"provider.verify": "verified", "provider.revoke": "revoked", "vault.rotate": "rotated",
	"vault.find": "searched", "vault.revoke_lease": "lease revoked", "approval": "approved"}

// Timeline returns the incident's story in time order: each sighting, the
// playbooks matched, each step with its duration and outcome, approvals and
// their decisions, and how it closed.
func (in *Incident) Timeline() []Entry {
	var out []Entry
	t0 := in.FirstReceivedAt
	if t0.IsZero() {
		t0 = in.CreatedAt
	}
	for _, x := range in.Exposures {
		where := x.Location.Display
		if where == "" {
			where = x.Ref
		}
		out = append(out, Entry{At: x.ReceivedAt, Kind: "received", Title: "received",
			Detail: strings.TrimSpace(fmt.Sprintf("from %s at %s (%s)", x.Source, where, x.Environment))})
	}
	if len(in.Playbooks) > 0 {
		at := in.CreatedAt
		for _, s := range in.Steps {
			if s.StartedAt != nil && (at.IsZero() || s.StartedAt.Before(at)) {
				at = *s.StartedAt
			}
		}
		out = append(out, Entry{At: at, Kind: "matched", Title: "matched", Detail: strings.Join(in.Playbooks, ", ")})
	}
	for _, s := range in.Steps {
		e := Entry{Kind: "step", Step: s.Key, Uses: s.Uses, State: string(s.State), Duration: s.Duration(), Detail: s.Detail}
		switch {
		case s.EndedAt != nil:
			e.At = *s.EndedAt
		case s.StartedAt != nil:
			e.At = *s.StartedAt
		default:
			e.At = in.UpdatedAt
		}
		e.Title = stepTitle(s)
		if s.Error != "" {
			e.Detail = s.Error
		}
		out = append(out, e)
	}
	for _, a := range in.Approvals {
		who := strings.Join(a.Approvers, ", ")
		if a.Group != "" {
			who = strings.TrimPrefix(who+", group "+a.Group, ", ")
		}
		out = append(out, Entry{At: a.RequestedAt, Kind: "approval", Title: "approval requested", Step: a.Step,
			Detail: fmt.Sprintf("%s: from %s by %s (on timeout: %s)", a.ID, who, a.Deadline.UTC().Format(time.RFC3339), a.OnTimeout)})
		if a.DecidedAt != nil {
			title := map[string]string{ApprovalApproved: "approved", ApprovalDenied: "denied", ApprovalTimedOut: "approval timed out"}[a.State]
			detail := fmt.Sprintf("by %s via %s", a.DecidedBy, a.Via)
			if a.State == ApprovalTimedOut {
				detail = "nobody decided in time: " + map[string]string{"proceed": "proceeded", "abort": "aborted"}[a.OnTimeout]
			}
			if a.Comment != "" {
				detail += " (" + a.Comment + ")"
			}
			out = append(out, Entry{At: *a.DecidedAt, Kind: "approval", Title: title, Step: a.Step, Detail: detail})
		}
	}
	if in.ClosedAt != nil {
		detail := in.Resolution
		if in.Error != "" {
			detail = in.Error
		}
		out = append(out, Entry{At: *in.ClosedAt, Kind: "closed", Title: string(in.State), Detail: detail})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	for i := range out {
		out[i].Offset = out[i].At.Sub(t0)
	}
	return out
}

func stepTitle(s Step) string {
	switch s.State {
	case StepSucceeded:
		if t, ok := stepTitles[s.Uses]; ok {
			if s.Uses == "approval" {
				if v, _ := s.Outputs["timed_out"].(bool); v {
					return "proceeded"
				}
			}
			return t
		}
		if strings.HasPrefix(s.Uses, "notify.") {
			return "notified"
		}
		return s.ID
	case StepSkipped:
		return s.ID + " skipped"
	case StepDryRun:
		return s.ID + " (dry-run)"
	case StepAwaitingApproval:
		return "awaiting approval"
	case StepDenied:
		return s.ID + " denied"
	}
	return s.ID + " " + string(s.State)
}

// Where lists the distinct places the secret was seen.
func (in *Incident) Where() []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range in.Exposures {
		w := x.Location.Display
		if w == "" {
			w = x.Ref
		}
		if w == "" || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}
