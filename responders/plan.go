package responders

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Planner says what playbooks would do for an exposure without doing it: it
// never opens the secret (actions get a credential with no secret, so no
// provider can be called with it), runs every action with DryRun set (each
// returns the provider calls it would make, bodies redacted), writes nothing
// and publishes nothing. `firebreak replay --dry-run` and `firebreak playbook
// explain` print its plans.
type Planner struct {
	Actions map[string]step.Action
}

// NewPlanner indexes actions by name.
func NewPlanner(acts []step.Action) *Planner {
	p := &Planner{Actions: map[string]step.Action{}}
	for _, a := range acts {
		p.Actions[a.Spec().Name] = a
	}
	return p
}

// Plan is what would happen to one exposure.
type Plan struct {
	Exposure      PlanExposure   `json:"exposure"`
	Incident      string         `json:"incident,omitempty"`
	IncidentState string         `json:"incident_state,omitempty"`
	Playbooks     []PlaybookPlan `json:"playbooks"`
}

// PlanExposure summarises the exposure planned for.
type PlanExposure struct {
	ID          string    `json:"id"`
	StreamSeq   uint64    `json:"stream_seq,omitempty"`
	Source      string    `json:"source"`
	Provider    string    `json:"provider"`
	Type        string    `json:"type"`
	Redacted    string    `json:"redacted,omitempty"`
	Environment string    `json:"environment"`
	Where       string    `json:"where,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	Correlation string    `json:"correlation_id,omitempty"`
}

// PlaybookPlan is one playbook: whether it matches and why, and its steps.
type PlaybookPlan struct {
	Name    string     `json:"name"`
	Matched bool       `json:"matched"`
	Reason  string     `json:"reason"`
	Steps   []StepPlan `json:"steps,omitempty"`
}

// What a planned step would do.
const (
	WillRun  = "run"  // runs (the calls it would make are listed)
	WillSkip = "skip" // its if is false, or its action has nothing to do for this exposure (step.Result.Skipped)
	WillDone = "done" // already done in the incident: not run again
	WillWait = "wait" // an approval: waits for a decision (later steps assume approval)
	WillFail = "fail" // cannot run (render error, action not available)
)

// StepPlan is one step of a plan.
type StepPlan struct {
	ID         string           `json:"id"`
	Uses       string           `json:"uses"`
	If         string           `json:"if,omitempty"`
	Will       string           `json:"will"`
	Why        string           `json:"why,omitempty"`
	With       map[string]any   `json:"with,omitempty"`
	Calls      []providers.Call `json:"calls,omitempty"`
	SideEffect bool             `json:"side_effect,omitempty"`
}

// Summary describes an exposure for plans and replay answers.
func Summary(ev *exposure.Event, seq uint64) PlanExposure {
	return PlanExposure{ID: ev.ID, StreamSeq: seq, Source: ev.Source.Kind, Provider: ev.Secret.Provider, Type: ev.Secret.Type,
		Redacted: ev.Secret.Redacted, Environment: ev.Environment, Where: nonEmpty(ev.Location.Display, Display(ev.Location)),
		ReceivedAt: ev.ReceivedAt, Correlation: ev.Correlation}
}

// Plan plans ev against set. inc, when the exposure's incident exists,
// supplies what already happened: done steps are shown as done, with their
// outputs feeding later conditions.
func (p *Planner) Plan(ctx context.Context, ev *exposure.Event, seq uint64, inc *incident.Incident, set *playbooks.Set) Plan {
	ev = cloneEvent(ev)
	plan := Plan{Exposure: Summary(ev, seq)}
	iv := playbooks.IncidentView{ID: incident.IDFor(ev.Secret.Fingerprint), State: string(incident.Open), Exposures: 1,
		Environments: []string{ev.Environment}}
	views := map[string]playbooks.StepView{}
	if inc != nil {
		plan.Incident, plan.IncidentState = inc.ID, string(inc.State)
		iv = playbooks.IncidentView{ID: inc.ID, State: string(inc.State), Severity: inc.Severity, Exposures: len(inc.Exposures),
			Environments: inc.Environments()}
		for _, st := range inc.Steps {
			views[st.ID] = playbooks.StepView{Outcome: string(st.State), Outputs: st.Outputs}
		}
		if inc.Blast != nil && !ev.Blast.Searched {
			ev.Blast = *inc.Blast
		}
	} else if ev.Secret.Fingerprint == "" {
		iv.ID = ""
	}
	// The credential carries no secret: actions can only plan.
	cred := providers.Credential{Provider: ev.Secret.Provider, Type: ev.Secret.Type, KeyID: ev.Secret.KeyID,
		Fingerprint: ev.Secret.Fingerprint, Hint: ev.Secret.Redacted}
	log := logrus.New()
	log.SetLevel(logrus.PanicLevel)
	for _, sel := range set.Select(ev, iv) {
		pp := PlaybookPlan{Name: sel.Playbook.Name, Matched: sel.Matched, Reason: sel.Reason}
		if sel.Matched {
			pp.Reason = matchReason(sel.Playbook, ev)
			halted := ""
			for _, st := range sel.Playbook.Steps {
				sp := p.planStep(ctx, sel.Playbook, st, ev, inc, iv, views, cred, log, halted)
				if sp.Will == WillDone && inc != nil {
					if rec := inc.Step(sel.Playbook.Name + "/" + st.ID); rec != nil && rec.State == incident.StepDenied {
						halted = st.ID
					}
				}
				pp.Steps = append(pp.Steps, sp)
			}
		}
		plan.Playbooks = append(plan.Playbooks, pp)
	}
	return plan
}

func (p *Planner) planStep(ctx context.Context, pb *playbooks.Playbook, st *playbooks.Step, ev *exposure.Event, inc *incident.Incident,
	iv playbooks.IncidentView, views map[string]playbooks.StepView, cred providers.Credential, log logrus.FieldLogger, halted string) StepPlan {
	sp := StepPlan{ID: st.ID, Uses: st.Uses, If: st.If}
	if a, ok := p.Actions[st.Uses]; ok {
		sp.SideEffect = a.Spec().SideEffect
	}
	if halted != "" {
		sp.Will, sp.Why = WillSkip, "not run: approval "+halted+" was not given"
		return sp
	}
	if inc != nil {
		if rec := inc.Step(pb.Name + "/" + st.ID); rec != nil {
			switch {
			case rec.State.Done():
				sp.Will = WillDone
				sp.Why = fmt.Sprintf("already %s", rec.State)
				if rec.EndedAt != nil {
					sp.Why += " at " + rec.EndedAt.UTC().Format(time.RFC3339)
				}
				if rec.Detail != "" {
					sp.Why += ": " + rec.Detail
				}
				if rec.State == incident.StepDryRun {
					sp.Why += " (a replay runs it again)"
				}
				return sp
			case rec.State == incident.StepAwaitingApproval:
				sp.Will, sp.Why = WillWait, rec.Detail
				views[st.ID] = playbooks.StepView{Outcome: string(incident.StepSucceeded), Outputs: map[string]any{"approved": true}}
				return sp
			case rec.State == incident.StepFailed:
				sp.Why = "failed before (" + rec.Error + "); a replay runs it again: "
			}
		}
	}
	env := playbooks.Env{Exposure: ev, Steps: views, Incident: iv}
	ok, err := st.Condition(env)
	if err != nil {
		sp.Will, sp.Why = WillFail, "if: "+err.Error()
		return sp
	}
	if !ok {
		sp.Will, sp.Why = WillSkip, sp.Why+"if is false: "+st.If
		views[st.ID] = playbooks.StepView{Outcome: string(incident.StepSkipped)}
		return sp
	}
	with, err := st.Render(playbooks.Data{Exposure: ev, Steps: views, Incident: iv})
	if err != nil {
		sp.Will, sp.Why = WillFail, err.Error()
		return sp
	}
	sp.With = with
	if st.Uses == playbooks.ApprovalAction {
		sp.Will = WillWait
		who := fmt.Sprint(with["approvers"])
		if g, _ := with["group"].(string); g != "" {
			who += " / group " + g
		}
		sp.Why += fmt.Sprintf("would ask %s to approve within %v (on timeout: %v); the steps below assume approval", who, with["timeout"], with["on_timeout"])
		views[st.ID] = playbooks.StepView{Outcome: string(incident.StepSucceeded), Outputs: map[string]any{"approved": true}}
		return sp
	}
	a, ok := p.Actions[st.Uses]
	if !ok {
		sp.Will, sp.Why = WillFail, fmt.Sprintf("action %q is not available in this deployment", st.Uses)
		return sp
	}
	snap := &incident.Incident{ID: iv.ID, State: incident.State(iv.State)}
	if inc != nil {
		snap = inc.Clone()
	}
	in := &step.Input{Exposure: ev, Incident: snap, Credential: cred, With: with, Playbook: pb.Name, StepID: st.ID,
		Steps: views, DryRun: true, Log: log}
	res, err := a.Run(ctx, in)
	if err != nil {
		sp.Will, sp.Why = WillFail, providers.ScrubError(err, cred.Secret).Error()
		return sp
	}
	if res.Skipped {
		sp.Will, sp.Why = WillSkip, sp.Why+res.Detail
		views[st.ID] = playbooks.StepView{Outcome: string(incident.StepSkipped), Outputs: res.Outputs}
		return sp
	}
	sp.Will, sp.Calls = WillRun, res.Calls
	sp.Why += res.Detail
	views[st.ID] = playbooks.StepView{Outcome: string(incident.StepDryRun), Outputs: res.Outputs}
	return sp
}

// matchReason says why a playbook matched, criterion by criterion.
func matchReason(pb *playbooks.Playbook, ev *exposure.Event) string {
	m := pb.Match
	var parts []string
	if len(m.Providers) > 0 {
		parts = append(parts, fmt.Sprintf("provider %s in %v", ev.Secret.Provider, m.Providers))
	}
	if len(m.Sources) > 0 {
		parts = append(parts, fmt.Sprintf("source %s in %v", ev.Source.Kind, m.Sources))
	}
	if len(m.Environments) > 0 {
		parts = append(parts, fmt.Sprintf("environment %s in %v", ev.Environment, m.Environments))
	}
	if len(m.SecretTypes) > 0 {
		parts = append(parts, fmt.Sprintf("secret type %s in %v", ev.Secret.Type, m.SecretTypes))
	}
	if m.When != "" {
		parts = append(parts, fmt.Sprintf("when %q holds", m.When))
	}
	if len(parts) == 0 {
		return "matches every exposure (no match criteria)"
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += "; " + p
	}
	return out
}

// cloneEvent copies the parts of an event a plan may change.
func cloneEvent(ev *exposure.Event) *exposure.Event {
	c := *ev
	if ev.Alert != nil {
		a := *ev.Alert
		c.Alert = &a
	}
	return &c
}
