package incident

import "time"

// Approval outcomes.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalTimedOut = "timed_out"
)

// Approval is an approval step's request and, once decided, its decision.
type Approval struct {
	ID          string     `json:"id"`   // apr_…
	Step        string     `json:"step"` // playbook/step key
	Approvers   []string   `json:"approvers,omitempty"`
	Group       string     `json:"group,omitempty"`
	Reason      string     `json:"reason,omitempty"` // why approval is asked (the step's text)
	RequestedAt time.Time  `json:"requested_at"`
	Deadline    time.Time  `json:"deadline"`
	OnTimeout   string     `json:"on_timeout"` // proceed | abort
	State       string     `json:"state"`      // pending | approved | denied | timed_out
	DecidedBy   string     `json:"decided_by,omitempty"`
	Via         string     `json:"via,omitempty"` // slack | link | api | cli | timeout
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Comment     string     `json:"comment,omitempty"`
	// Announced: the request was sent to the approvers.
	Announced bool `json:"announced,omitempty"`
}

// PendingApproval returns the approval the incident waits for, or nil.
func (in *Incident) PendingApproval() *Approval {
	for i := range in.Approvals {
		if in.Approvals[i].State == ApprovalPending {
			return &in.Approvals[i]
		}
	}
	return nil
}

// ApprovalFor returns the latest approval of a step, or nil.
func (in *Incident) ApprovalFor(stepKey string) *Approval {
	for i := len(in.Approvals) - 1; i >= 0; i-- {
		if in.Approvals[i].Step == stepKey {
			return &in.Approvals[i]
		}
	}
	return nil
}
