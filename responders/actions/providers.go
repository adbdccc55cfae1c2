// Package actions holds the built-in step actions: provider.verify,
// provider.revoke, notify.slack and notify.webhook. Each is a small value
// wired explicitly by cmd with the providers and notifiers it may use.
package actions

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Providers is the set of configured provider clients. A provider registered
// with a dry-run reason (no credentials configured) is never called: its steps
// record the calls they would have made.
//
// A provider's max_concurrency is kept by its HTTP client
// (providers.LimitClient), for every request it sends.
type Providers struct {
	byName map[string]providers.Provider
	dryRun map[string]string
}

// NewProviders returns an empty set.
func NewProviders() *Providers {
	return &Providers{byName: map[string]providers.Provider{}, dryRun: map[string]string{}}
}

// Add registers p. A non-empty dryRun says why p runs in dry-run.
func (r *Providers) Add(p providers.Provider, dryRun string) {
	name := p.Spec().Name
	r.byName[name] = p
	if dryRun != "" {
		r.dryRun[name] = dryRun
	}
}

// Get returns the provider and its dry-run reason.
func (r *Providers) Get(name string) (providers.Provider, string, bool) {
	p, ok := r.byName[name]
	return p, r.dryRun[name], ok
}

// Names lists the registered providers.
func (r *Providers) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Specs lists the registered providers' specs, by name.
func (r *Providers) Specs() []providers.Spec {
	var out []providers.Spec
	for _, n := range r.Names() {
		out = append(out, r.byName[n].Spec())
	}
	return out
}

func (r *Providers) resolve(in *step.Input) (providers.Provider, string, error) {
	name := in.String("provider", in.Credential.Provider)
	p, dry, ok := r.Get(name)
	if !ok {
		return nil, "", &providers.Error{Provider: name, Op: providers.OpVerify, Class: providers.Permanent,
			Message: fmt.Sprintf("no provider %q is configured", name)}
	}
	if in.DryRun {
		dry = "dry-run requested"
	}
	if dry == "" && in.Credential.Secret.IsZero() {
		dry = "the secret could not be fetched (no GitHub token configured)"
	}
	return p, dry, nil
}

var providerField = playbooks.FieldSpec{Name: "provider", Type: playbooks.TypeString,
	Description: "provider to act with; defaults to the exposure's provider"}

// Verify is the provider.verify action.
type Verify struct{ Providers *Providers }

// Spec implements step.Action.
func (Verify) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "provider.verify",
		Description: "Check whether the leaked key is live, using the provider's API.",
		Fields:      []playbooks.FieldSpec{providerField},
		Outputs:     []string{"live", "detail"},
	}
}

// Run implements step.Action.
func (a Verify) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	p, dry, err := a.Providers.resolve(in)
	if err != nil {
		return step.Result{}, err
	}
	if dry != "" {
		// Assume live so that the plan shows what would follow.
		return step.Result{DryRun: true, Detail: "dry-run: " + dry,
			Calls:   p.Plan(providers.OpVerify, in.Credential),
			Outputs: map[string]any{"live": true, "dry_run": true}}, nil
	}
	res, err := p.Verify(ctx, in.Credential)
	if err != nil {
		return step.Result{}, providers.ScrubError(err, in.Credential.Secret)
	}
	out := map[string]any{"live": res.Live, "detail": res.Detail}
	for k, v := range res.Facts {
		out[k] = v
	}
	detail := "key is not live"
	if res.Live {
		detail = "key is live"
	}
	if res.Detail != "" {
		detail += ": " + res.Detail
	}
	return step.Result{Outputs: out, Detail: detail, Effect: step.EffectVerified}, nil
}

// Revoke is the provider.revoke action.
type Revoke struct{ Providers *Providers }

// Spec implements step.Action.
func (Revoke) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "provider.revoke",
		Description: "Revoke the leaked key at the provider (or take the strongest action its API allows).",
		Fields: []playbooks.FieldSpec{providerField,
			{Name: "delete", Type: playbooks.TypeBool, Default: false,
				Description: "AWS: delete the access key after deactivating it (providers that take revocation options)"}},
		Outputs:    []string{"revoked", "already_revoked", "action", "key_id", "escalated", "manual_action", "console_url"},
		SideEffect: true,
	}
}

// Run implements step.Action. When an earlier attempt started and recorded
// no outcome, it first asks the provider whether the key is still live: a key
// that is no longer live was revoked by that attempt, and is not revoked again.
func (a Revoke) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	p, dry, err := a.Providers.resolve(in)
	if err != nil {
		return step.Result{}, err
	}
	if dry != "" {
		return step.Result{DryRun: true, Detail: "dry-run: " + dry,
			Calls:   p.Plan(providers.OpRevoke, in.Credential),
			Outputs: map[string]any{"revoked": false, "dry_run": true}}, nil
	}
	if in.Resumed && p.Spec().Verify {
		v, err := p.Verify(ctx, in.Credential)
		if err == nil && !v.Live {
			return step.Result{
				Outputs: map[string]any{"revoked": true, "already_revoked": true, "action": "none"},
				Detail:  "key no longer live after an interrupted attempt: not revoked again",
				Effect:  step.EffectRevoked,
			}, nil
		}
		if class, _ := providers.Classify(err); err != nil && class == providers.Retryable {
			// The earlier attempt may have revoked the key; without an
			// answer to "is it still live?" do not act blind: try later.
			return step.Result{}, providers.ScrubError(fmt.Errorf("checking the key after an interrupted attempt: %w", err), in.Credential.Secret)
		}
	}
	var res providers.RevokeResult
	if or, ok := p.(providers.OptionRevoker); ok {
		res, err = or.RevokeWith(ctx, in.Credential, in.With)
	} else {
		res, err = p.Revoke(ctx, in.Credential)
	}
	if err != nil {
		return step.Result{}, providers.ScrubError(err, in.Credential.Secret)
	}
	if res.AlreadyRevoked && p.Spec().Verify {
		if err := confirmDead(ctx, p, in); err != nil {
			return step.Result{}, err
		}
	}
	escalated := res.Action == providers.ActionEscalated
	out := map[string]any{"revoked": !escalated, "already_revoked": res.AlreadyRevoked,
		"action": res.Action, "key_id": res.KeyID, "escalated": escalated}
	for k, v := range res.Facts {
		out[k] = v
	}
	detail := res.Detail
	if detail == "" {
		detail = res.Action
		if res.AlreadyRevoked {
			detail = "already revoked"
		}
	}
	eff := step.EffectRevoked
	if res.Action == "escalated" {
		eff = step.EffectNone
	}
	return step.Result{Outputs: out, Detail: detail, Effect: eff}, nil
}

// errStillLive is the cause of a revocation that found no key to revoke
// while the key still authenticates.
var errStillLive = errors.New("the provider has no such key to revoke, yet the key still authenticates")

// confirmDead checks a revocation's "already revoked" (the provider no longer
// knows the key) against the key itself before the incident is called
// contained: a key that still authenticates was not revoked. That happens when
// the admin credential belongs to another organization or account than the
// key, when a base URL points at the wrong service, or while the provider
// propagates someone else's revocation. It is retryable: the redeliveries give
// propagation time, and when they are spent the incident fails and its
// on_failure steps page. A verify that cannot answer now is retryable too; one
// refused for good leaves the provider's answer standing.
func confirmDead(ctx context.Context, p providers.Provider, in *step.Input) error {
	v, err := p.Verify(ctx, in.Credential)
	if class, _ := providers.Classify(err); err != nil && class == providers.Retryable {
		return providers.ScrubError(fmt.Errorf("checking that the key no longer authenticates: %w", err), in.Credential.Secret)
	}
	if err == nil && v.Live {
		return &providers.Error{Provider: p.Spec().Name, Op: providers.OpRevoke, Class: providers.Retryable, Err: errStillLive,
			Message: "not contained: check that the admin credential is for the key's organization or account, and the base URL"}
	}
	return nil
}
