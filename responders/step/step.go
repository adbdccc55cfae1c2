// Package step is the contract between the responder's step runner and the
// actions playbook steps use (`uses: provider.revoke`): what an action gets,
// what it returns, and how it describes itself.
package step

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Effect is what a successful step changed in the incident's timeline.
type Effect string

// Effects.
const (
	EffectNone     Effect = ""
	EffectVerified Effect = "verified"
	EffectRevoked  Effect = "revoked"
	EffectNotified Effect = "notified"
)

// Input is what an action runs on. The Credential's secret lives only in
// memory for the duration of Run.
type Input struct {
	Exposure   *exposure.Event
	Incident   *incident.Incident // a snapshot; actions must not modify it
	Credential providers.Credential
	With       map[string]any // the step's rendered parameters
	Playbook   string
	StepID     string
	Steps      map[string]playbooks.StepView
	Owner      playbooks.Owner
	// Resumed is true when an earlier attempt of this step started and
	// recorded no outcome (the responder stopped mid-step): side-effecting
	// actions check the provider's state before acting again.
	Resumed bool
	// DryRun asks for the plan only: no call that changes anything.
	DryRun bool
	// Approval is set for an approval step: the request to announce (its
	// id, approvers and deadline).
	Approval *incident.Approval
	Log      logrus.FieldLogger
}

// Result is what an action did.
type Result struct {
	Outputs map[string]any
	Detail  string
	DryRun  bool
	// Skipped says the action found nothing it could do for this exposure
	// (a redaction step facing a secret that is in no text it can edit):
	// the step is recorded as skipped (audit step.skipped), with Detail as
	// the reason, not as succeeded. It did nothing at the provider.
	Skipped bool
	Calls   []providers.Call // the plan, for dry-run results
	Effect  Effect
	// Blast, when set, is the secret's blast radius as a search found it
	// (vault.find): the responder records it on the incident and the
	// exposure (exposure.blast in later expressions) and raises the
	// incident's severity when the key is reused across environments.
	Blast *exposure.Blast
}

// Action is one kind of step. Run returns errors classified for
// providers.Classify (a *providers.Error, or one wrapping it).
type Action interface {
	Spec() playbooks.ActionSpec
	Run(ctx context.Context, in *Input) (Result, error)
}

// String returns a string parameter (or def when absent).
func (in *Input) String(name, def string) string {
	if v, ok := in.With[name].(string); ok && v != "" {
		return v
	}
	return def
}

// Bool returns a boolean parameter (or def when absent).
func (in *Input) Bool(name string, def bool) bool {
	if v, ok := in.With[name].(bool); ok {
		return v
	}
	return def
}
