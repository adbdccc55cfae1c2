package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/responders/actions"
)

// buildVault returns the Vault client, or nil when vault.address is unset.
// Auth secrets resolve through env:/file: only.
func buildVault(cfg *config.Config, rs secret.Resolvers, hc *http.Client, log logrus.FieldLogger) (*vault.Client, error) {
	v := cfg.Vault
	if v.Address == "" {
		return nil, nil
	}
	src := func(path string, r secret.Ref) (secret.Source, error) {
		if r.IsZero() {
			return nil, nil
		}
		s, err := secret.Resolvers{Getenv: rs.Getenv}.Source(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return s, nil
	}
	var a vault.Auth
	var err error
	a.Method, a.Mount, a.Role = v.Auth.Method, v.Auth.Mount, v.Auth.Role
	if a.RoleID, err = src("vault.auth.role_id", v.Auth.RoleID); err != nil {
		return nil, err
	}
	if a.SecretID, err = src("vault.auth.secret_id", v.Auth.SecretID); err != nil {
		return nil, err
	}
	if a.JWT, err = src("vault.auth.jwt", v.Auth.JWT); err != nil {
		return nil, err
	}
	if a.Token, err = src("vault.auth.token", v.Auth.Token); err != nil {
		return nil, err
	}
	c, err := vault.New(vault.Config{Address: v.Address, Namespace: v.Namespace, Auth: a, Dev: v.Dev, HTTPClient: hc, Logger: log})
	if err != nil {
		return nil, err
	}
	if a.Method == vault.AuthToken {
		log.Warn("vault.auth.method is token: a static token (typically root) is for dev mode only; use approle, jwt or kubernetes auth in production")
	}
	return c, nil
}

func scopes(s []config.VaultScope) []vault.Scope {
	out := make([]vault.Scope, len(s))
	for i, x := range s {
		out[i] = vault.Scope{Mount: x.Mount, Prefix: x.Prefix}
	}
	return out
}

// buildVaultActions returns the vault.* actions; without a client they run in
// dry-run.
func buildVaultActions(cfg *config.Config, vc *vault.Client, ps *actions.Providers, fp func(secret.Value) string,
	instance string, hook func(context.Context, vault.Phase) error) (*actions.Vault, error) {
	va := &actions.Vault{Providers: ps, Why: "vault.address is not set"}
	if vc == nil {
		return va, nil
	}
	va.Client = vc
	va.Rotator = &vault.Rotator{Client: vc, IntentMount: cfg.Vault.Rotation.IntentMount, IntentPrefix: cfg.Vault.Rotation.IntentPrefix,
		VerifyAttempts: cfg.Vault.Rotation.VerifyAttempts, Instance: instance, Hook: hook}
	if len(cfg.Vault.BlastRadius.Scopes) > 0 {
		va.Finder = &vault.Finder{Client: vc, Scopes: scopes(cfg.Vault.BlastRadius.Scopes), Fingerprint: fp,
			MaxSecrets: cfg.Vault.BlastRadius.MaxSecrets,
			Skip:       []vault.Scope{{Mount: cfg.Vault.Rotation.IntentMount, Prefix: cfg.Vault.Rotation.IntentPrefix}}}
	}
	return va, nil
}

// enricher searches the blast radius of every exposure on receipt
// (vault.blast_radius.on_receive), so that match.when sees exposure.blast.
func enricher(f *vault.Finder) func(ctx context.Context, ev *exposure.Event, cred providers.Credential) error {
	return func(ctx context.Context, ev *exposure.Event, cred providers.Credential) error {
		b, err := f.Find(ctx, cred)
		if err != nil {
			return err
		}
		ev.Blast = b
		return nil
	}
}

// VaultPolicy is the least-privilege Vault policy for this configuration.
func VaultPolicy(cfg *config.Config) string {
	pc := vault.PolicyConfig{
		RotateTargets:  scopes(cfg.Vault.Rotation.Targets),
		Intents:        vault.Scope{Mount: cfg.Vault.Rotation.IntentMount, Prefix: cfg.Vault.Rotation.IntentPrefix},
		Find:           scopes(cfg.Vault.BlastRadius.Scopes),
		Credentials:    cfg.VaultRefs(),
		RevokeLeases:   true,
		RevokePrefixes: cfg.Vault.RevokePrefixes,
	}
	if cfg.Vault.Transit.Key != "" {
		pc.TransitMount, pc.TransitKey = cfg.Vault.Transit.Mount, cfg.Vault.Transit.Key
	}
	return vault.Policy(pc)
}
