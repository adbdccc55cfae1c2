package actions

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Vault is what the vault.* actions share: the configured Vault client and
// the rotation and search built on it. A nil Client (no vault.address) runs
// every vault.* step in dry-run, with Why saying so.
type Vault struct {
	Client    *vault.Client
	Rotator   *vault.Rotator
	Finder    *vault.Finder
	Providers *Providers
	Why       string // dry-run reason when Client is nil
}

// VaultActions returns vault.rotate, vault.find and vault.revoke_lease.
func VaultActions(v *Vault) []step.Action {
	return []step.Action{VaultRotate{v}, VaultFind{v}, VaultRevokeLease{v}}
}

func (v *Vault) dry(in *step.Input) string {
	switch {
	case v == nil || v.Client == nil:
		if v != nil && v.Why != "" {
			return v.Why
		}
		return "Vault is not configured (vault.address)"
	case in.DryRun:
		return "dry-run requested"
	}
	return ""
}

// VaultRotate is the vault.rotate action.
type VaultRotate struct{ V *Vault }

// Spec implements step.Action.
func (VaultRotate) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name: "vault.rotate",
		Description: "Replace the leaked key: create a new one at the provider, write it to a KV v2 secret (check-and-set), " +
			"verify it, revoke the old one. Crash-safe: an intent record makes a redelivery roll forward or back.",
		Fields: []playbooks.FieldSpec{
			{Name: "mount", Type: playbooks.TypeString, Default: "secret", Description: "KV v2 mount"},
			{Name: "path", Type: playbooks.TypeString, Required: true, Description: "secret path in the mount", Example: "apps/{{ .Owner.Service }}/openai"},
			{Name: "field", Type: playbooks.TypeString, Default: "api_key", Description: "the field that holds the key"},
			providerField,
			{Name: "revoke_old", Type: playbooks.TypeBool, Default: true, Description: "revoke the old key once the new one is live"},
			{Name: "params", Type: playbooks.TypeMap, Description: "provider parameters for the new key (OpenAI: project_id)"},
		},
		Outputs:    []string{"rotated", "action", "version", "new_key", "new_key_id", "revoked", "resumed"},
		SideEffect: true,
	}
}

// Run implements step.Action.
func (a VaultRotate) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	name := in.String("provider", in.Credential.Provider)
	p, pdry, ok := a.V.providers().Get(name)
	if !ok {
		return step.Result{}, &providers.Error{Provider: name, Op: vault.OpRotate, Class: providers.Permanent,
			Message: fmt.Sprintf("no provider %q is configured", name)}
	}
	creator, ok := p.(providers.Creator)
	if !ok {
		return step.Result{}, &providers.Error{Provider: name, Op: vault.OpRotate, Class: providers.Permanent,
			Message: fmt.Sprintf("provider %q cannot create keys, so it cannot rotate", name)}
	}
	rot := vault.Rotation{
		Incident: in.Incident.ID, Step: in.Playbook + "/" + in.StepID,
		Mount: strings.Trim(in.String("mount", "secret"), "/"), Path: strings.Trim(in.String("path", ""), "/"),
		Field: in.String("field", "api_key"), Old: in.Credential, Provider: p, Creator: creator,
		With: stringMap(in.With["params"]), RevokeOld: in.Bool("revoke_old", true),
	}
	if rot.Path == "" {
		return step.Result{}, &providers.Error{Provider: vault.Name, Op: vault.OpRotate, Class: providers.Permanent, Message: "with.path rendered empty"}
	}
	dry := a.V.dry(in)
	if dry == "" {
		dry = pdry
	}
	if dry == "" && in.Credential.Secret.IsZero() {
		dry = "the secret could not be fetched"
	}
	if dry != "" {
		return step.Result{DryRun: true, Detail: "dry-run: " + dry, Calls: a.plan(rot, p),
			Outputs: map[string]any{"rotated": false, "dry_run": true}}, nil
	}
	out, err := a.V.Rotator.Rotate(ctx, rot)
	if err != nil {
		return step.Result{}, err
	}
	res := step.Result{Detail: out.Detail(rot), Outputs: map[string]any{
		"rotated": true, "action": out.Action, "version": out.Version, "new_key": out.NewHint, "new_key_id": out.NewKeyID,
		"revoked": out.Revoked, "resumed": out.Resumed,
	}}
	if out.Revoked {
		res.Effect = step.EffectRevoked
	}
	return res, nil
}

func (a VaultRotate) plan(rot vault.Rotation, p providers.Provider) []providers.Call {
	addr := "{vault}"
	if a.V != nil && a.V.Client != nil {
		addr = a.V.Client.Address()
	}
	kv := func(kind string) string { return addr + "/v1/" + rot.Mount + "/" + kind + "/" + rot.Path }
	calls := []providers.Call{
		{Method: http.MethodGet, URL: kv("data"), Note: "check that field " + rot.Field + " holds the leaked key " + rot.Old.Hint},
		{Method: http.MethodPost, URL: addr + "/v1/{intent mount}/data/{intent}", Note: "write the intent record (check-and-set 0)"},
		{Note: "create a new key at " + p.Spec().Name + " (Creator.Create)"},
		{Method: http.MethodPost, URL: kv("data"), Note: "write the new key as a new version (check-and-set on the version read)"},
		{Method: http.MethodPost, URL: kv("metadata"), Note: "set custom metadata rotated_by, incident, previous_fingerprint"},
	}
	calls = append(calls, p.Plan(providers.OpVerify, rot.Old)...)
	if rot.RevokeOld {
		calls = append(calls, p.Plan(providers.OpRevoke, rot.Old)...)
	}
	return append(calls, providers.Call{Method: http.MethodDelete, URL: addr + "/v1/{intent mount}/metadata/{intent}", Note: "clear the intent record"})
}

func (v *Vault) providers() *Providers {
	if v == nil || v.Providers == nil {
		return NewProviders()
	}
	return v.Providers
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// VaultFind is the vault.find action: the blast radius.
type VaultFind struct{ V *Vault }

// Spec implements step.Action.
func (VaultFind) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name: "vault.find",
		Description: "Search the configured KV mounts for other paths that hold the same secret (by fingerprint). " +
			"Sets exposure.blast; a key reused across environments raises the incident's severity.",
		Outputs: []string{"hits", "paths", "environments", "reused_across_envs", "owners", "truncated"},
	}
}

// Run implements step.Action. It only reads, so it runs in dry-run too.
func (a VaultFind) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	if a.V == nil || a.V.Finder == nil || in.Credential.Secret.IsZero() {
		why := a.V.dry(&step.Input{})
		if in.Credential.Secret.IsZero() {
			why = "the secret could not be fetched"
		}
		return step.Result{DryRun: true, Detail: "dry-run: " + why, Outputs: map[string]any{"hits": 0, "reused_across_envs": false, "dry_run": true}}, nil
	}
	b, err := a.V.Finder.Find(ctx, in.Credential)
	if err != nil {
		return step.Result{}, err
	}
	paths := make([]any, 0, len(b.Hits))
	for _, h := range b.Hits {
		paths = append(paths, fmt.Sprintf("%s/%s#%s (%s)", h.Mount, h.Path, h.Field, h.Environment))
	}
	envs := make([]any, len(b.Environments))
	for i, e := range b.Environments {
		envs[i] = e
	}
	owners := make([]any, len(b.Owners))
	for i, o := range b.Owners {
		owners[i] = o
	}
	detail := fmt.Sprintf("found the key in %d place(s) among %d secrets", len(b.Hits), b.Scanned)
	if len(paths) > 0 {
		detail += ": " + strings.Join(strings.Fields(fmt.Sprint(paths...)), " ")
	}
	if b.ReusedAcrossEnvs {
		detail += "; reused across environments (" + strings.Join(b.Environments, ", ") + ")"
	}
	return step.Result{Detail: detail, Blast: &b, Outputs: map[string]any{
		"hits": len(b.Hits), "paths": paths, "environments": envs, "reused_across_envs": b.ReusedAcrossEnvs,
		"owners": owners, "truncated": b.Truncated,
	}}, nil
}

// VaultRevokeLease is the vault.revoke_lease action.
type VaultRevokeLease struct{ V *Vault }

// Spec implements step.Action.
func (VaultRevokeLease) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "vault.revoke_lease",
		Description: "Revoke a Vault lease (sys/leases/revoke), or every lease under a prefix (sys/leases/revoke-prefix), for keys that came from a Vault secrets engine.",
		Fields: []playbooks.FieldSpec{
			{Name: "lease_id", Type: playbooks.TypeString, Required: true, Description: "the lease id, or the prefix with prefix: true", Example: "aws/creds/deploy/abc123"},
			{Name: "prefix", Type: playbooks.TypeBool, Default: false, Description: "revoke every lease under lease_id"},
		},
		Outputs:    []string{"revoked", "lease_id", "prefix"},
		SideEffect: true,
	}
}

// Run implements step.Action.
func (a VaultRevokeLease) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	id, prefix := strings.TrimSpace(in.String("lease_id", "")), in.Bool("prefix", false)
	if id == "" {
		return step.Result{}, &providers.Error{Provider: vault.Name, Op: "revoke_lease", Class: providers.Permanent, Message: "with.lease_id rendered empty"}
	}
	kind, path := "lease", "sys/leases/revoke"
	if prefix {
		kind, path = "every lease under", "sys/leases/revoke-prefix/"+id
	}
	if dry := a.V.dry(in); dry != "" {
		return step.Result{DryRun: true, Detail: "dry-run: " + dry, Calls: []providers.Call{{Method: http.MethodPut, URL: "{vault}/v1/" + path, Note: "revoke " + kind + " " + id}},
			Outputs: map[string]any{"revoked": false, "dry_run": true}}, nil
	}
	if err := a.V.Client.RevokeLease(ctx, id, prefix); err != nil {
		return step.Result{}, err
	}
	return step.Result{Detail: "revoked " + kind + " " + id, Effect: step.EffectRevoked,
		Outputs: map[string]any{"revoked": true, "lease_id": id, "prefix": prefix}}, nil
}
