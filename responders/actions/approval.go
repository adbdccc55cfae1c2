package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// ApprovalName is the `uses:` name of an approval step.
const ApprovalName = "approval"

// Approval is the approval step: it holds the rest of its playbook until a
// person decides (or the timeout does). The responder parks the incident and
// resumes it (see responders); this action only announces the request: a
// Slack message with Approve/Deny buttons, and a signed webhook carrying one
// signed one-time link per approver for integrations (mail, SOAR) to route.
type Approval struct {
	Slack    map[string]notify.Notifier
	Webhooks map[string]notify.Notifier
	Links    approvals.Links
	// IncidentURL renders a link to the incident page (may be nil).
	IncidentURL func(id string) string
}

// Approval defaults.
const (
	DefaultApprovalTimeout = time.Hour
	MaxApprovalTimeout     = 7 * 24 * time.Hour
)

// Spec implements step.Action.
func (Approval) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name: ApprovalName,
		Description: "Hold the rest of the playbook until a person approves (Slack button, signed link, or " +
			"`firebreak incidents approve`). Denied, or timed out with on_timeout: abort, the rest does not run.",
		Fields: []playbooks.FieldSpec{
			{Name: "approvers", Type: playbooks.TypeList, Description: "who may approve: Slack user ids or names, token names, emails", Example: "[alice, U024BE7LH]"},
			{Name: "group", Type: playbooks.TypeString, Description: "an approver group from the owners file"},
			{Name: "timeout", Type: playbooks.TypeDuration, Default: DefaultApprovalTimeout, Description: "how long to wait for a decision (at most 168h)"},
			{Name: "on_timeout", Type: playbooks.TypeString, Default: approvals.Abort, Enum: []string{approvals.Proceed, approvals.Abort},
				Description: "what happens when nobody decides in time"},
			{Name: "text", Type: playbooks.TypeString, Description: "why approval is needed (a template)"},
			{Name: "notifier", Type: playbooks.TypeString, Default: "default", Description: "the Slack notifier that posts the buttons"},
			{Name: "webhook", Type: playbooks.TypeString, Default: "default", Description: "the webhook notifier that receives the per-approver links"},
		},
		Outputs:    []string{"approved", "timed_out", "decided_by", "via"},
		SideEffect: true,
	}
}

// Run implements step.Action: it announces in.Approval.
func (a Approval) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	req := in.Approval
	if req == nil {
		return step.Result{}, &providers.Error{Provider: "approval", Op: "request", Class: providers.Permanent, Message: "no approval request to announce"}
	}
	who := strings.Join(req.Approvers, ", ")
	if req.Group != "" {
		if who != "" {
			who += ", "
		}
		who += "group " + req.Group
	}
	m := Message(in, a.IncidentURL)
	m.Severity = "critical"
	m.Title = "Approval needed: " + in.Playbook + "/" + in.StepID
	m.Text = fmt.Sprintf("%s\nApprovers: %s. Decide by %s (on timeout: %s). Approval %s.",
		strings.TrimSpace(firstNonEmpty(req.Reason, "Firebreak holds the next steps of "+in.Playbook+" for approval.")),
		firstNonEmpty(who, "(none listed)"), req.Deadline.UTC().Format("2006-01-02 15:04 MST"), req.OnTimeout, req.ID)
	m.Fields["event"] = "approval.requested"
	m.Fields["approval"] = req.ID
	if in.DryRun {
		return step.Result{DryRun: true, Detail: fmt.Sprintf("dry-run: would ask %s to approve within %s (on timeout: %s)",
			firstNonEmpty(who, "nobody"), req.Deadline.Sub(req.RequestedAt).Round(time.Second), req.OnTimeout)}, nil
	}
	var sent []string
	var errs []string
	if n, ok := a.Slack[in.String("notifier", "default")]; ok {
		sm := m
		sm.Buttons = []notify.Button{
			{Text: "Approve", ActionID: approvals.SlackApprove, Value: req.ID, Style: "primary"},
			{Text: "Deny", ActionID: approvals.SlackDeny, Value: req.ID, Style: "danger"},
		}
		if _, err := n.Notify(ctx, sm); err != nil {
			errs = append(errs, "slack: "+err.Error())
		} else {
			sent = append(sent, "slack")
		}
	}
	if n, ok := a.Webhooks[in.String("webhook", "default")]; ok && len(a.Links.Key) > 0 {
		wm := m
		wm.Links = map[string]string{}
		for _, ap := range req.Approvers {
			wm.Links["approve:"+ap] = a.Links.URL(req.ID, "approve", ap, req.Deadline)
			wm.Links["deny:"+ap] = a.Links.URL(req.ID, "deny", ap, req.Deadline)
		}
		if _, err := n.Notify(ctx, wm); err != nil {
			errs = append(errs, "webhook: "+err.Error())
		} else {
			sent = append(sent, "webhook")
		}
	}
	detail := fmt.Sprintf("asked %s to approve by %s", firstNonEmpty(who, "nobody"), req.Deadline.UTC().Format(time.RFC3339))
	switch {
	case len(sent) > 0:
		detail += " (sent through " + strings.Join(sent, ", ") + ")"
	default:
		detail += " (no notifier configured: decide with `firebreak incidents approve " + in.Incident.ID + "`)"
	}
	if len(errs) > 0 {
		// An announcement that failed does not block the approval: the API
		// and the CLI still decide it. Say so on the timeline.
		detail += "; not sent: " + strings.Join(errs, "; ")
	}
	return step.Result{Detail: detail}, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
