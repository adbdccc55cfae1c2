package vault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// policyWorld is a deployment's Vault: a rotation target, a dev copy of the
// same key, Firebreak's own credentials, a transit key and a PKI engine that
// issues leases.
type policyWorld struct {
	v       *vaulttest.Server
	prefix  string
	transit string
	pki     string
	cfg     vault.PolicyConfig
}

func newPolicyWorld(t *testing.T) *policyWorld {
	v := vaulttest.Shared(t)
	w := &policyWorld{v: v, prefix: vaulttest.UniquePrefix(t.Name()), transit: transitKey(t, v), pki: pkiMount(t, v)}
	w.cfg = vault.PolicyConfig{
		RotateTargets:  []vault.Scope{{Mount: "secret", Prefix: w.prefix + "/apps"}},
		Intents:        vault.Scope{Mount: "secret", Prefix: w.prefix + "/firebreak/rotations"},
		Find:           []vault.Scope{{Mount: "secret", Prefix: w.prefix + "/apps"}, {Mount: "secret", Prefix: w.prefix + "/dev"}},
		Credentials:    []string{"secret/data/" + w.prefix + "/firebreak/creds/*"},
		TransitKey:     w.transit,
		RevokeLeases:   true,
		RevokePrefixes: []string{w.pki + "/issue"},
	}
	return w
}

// scenario runs everything Firebreak does with Vault, with a client logged in
// through AppRole under policy pol, and returns the first error.
func (w *policyWorld) scenario(t *testing.T, pol string) error {
	t.Helper()
	v := w.v
	run := vaulttest.UniquePrefix("r")
	f := newFixture(t, v)
	// The fixture's key lives in the rotation target; a copy sits in dev.
	f.path = w.prefix + "/apps/" + run + "/openai"
	v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": f.old, "endpoint": "https://api.openai.com/v1"}})
	v.Write(t, "secret/data/"+w.prefix+"/dev/"+run, map[string]any{"data": map[string]any{"key": f.old}})
	v.Write(t, "secret/data/"+w.prefix+"/firebreak/creds/openai", map[string]any{"data": map[string]any{"admin_key": "sk-admin-policy-canary-000000000000"}})
	lease := issueLease(t, v, w.pki)
	issueLease(t, v, w.pki)

	rid, sid := appRole(t, v, "p-"+run, []string{pol}, "5m", "10m")
	c := appRoleClient(t, v, rid, sid)
	ctx := ctxT(t)
	if _, err := c.ReadRef(ctx, "secret/data/"+w.prefix+"/firebreak/creds/openai#admin_key"); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tr := &vault.Transit{Client: c, Key: w.transit}
	sealed, err := tr.Seal(ctx, secret.New("sk-proj-x"), []byte("fp"))
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	if _, err := tr.Open(ctx, sealed, []byte("fp")); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	fd := &vault.Finder{Client: c, Scopes: w.cfg.Find, Fingerprint: f.kr.Fingerprint}
	b, err := fd.Find(ctx, f.cred())
	if err != nil {
		return fmt.Errorf("find: %w", err)
	}
	if len(b.Hits) != 2 {
		t.Fatalf("find: %d hits, want 2", len(b.Hits))
	}
	r := &vault.Rotator{Client: c, IntentMount: "secret", IntentPrefix: w.cfg.Intents.Prefix}
	if _, err := r.Rotate(ctx, f.rotation("inc_policy")); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	f.assertRotated(t, r, "inc_policy")
	if err := c.RevokeLease(ctx, lease, false); err != nil {
		return fmt.Errorf("revoke lease: %w", err)
	}
	if err := c.RevokeLease(ctx, w.pki+"/issue/fb", true); err != nil {
		return fmt.Errorf("revoke prefix: %w", err)
	}
	return nil
}

// TestPolicyIsExactlySufficient: with exactly the documented policy (plus
// Vault's default policy) everything Firebreak does with Vault works; without
// any single capability of it, something fails with a clear, permanent
// permission error.
func TestPolicyIsExactlySufficient(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t)
	rules := vault.PolicyRules(w.cfg)
	put := func(name string, rules []vault.Rule) {
		if err := w.v.Client(t).Sys().PutPolicy(name, vault.RenderPolicy(rules)); err != nil {
			t.Fatalf("put policy: %v\n%s", err, vault.RenderPolicy(rules))
		}
	}
	put("fb-"+w.prefix, rules)
	if err := w.scenario(t, "fb-"+w.prefix); err != nil {
		t.Fatalf("with the full policy: %v\n%s", err, vault.RenderPolicy(rules))
	}
	for i, r := range rules {
		for _, c := range r.Capabilities {
			t.Run(r.Path+"/"+c, func(t *testing.T) {
				less := slices.Clone(rules)
				less[i].Capabilities = slices.DeleteFunc(slices.Clone(r.Capabilities), func(x string) bool { return x == c })
				if len(less[i].Capabilities) == 0 {
					less = slices.Delete(less, i, i+1)
				}
				name := fmt.Sprintf("fb-%s-%d-%s", w.prefix, i, c)
				put(name, less)
				err := w.scenario(t, name)
				if err == nil {
					t.Fatalf("everything worked without %q on %s: the capability is not needed", c, r.Path)
				}
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Class != providers.Permanent || !vault.IsPermission(err) {
					t.Fatalf("without %q on %s: %v; want a permanent permission error", c, r.Path, err)
				}
				if !strings.Contains(err.Error(), "polic") {
					t.Fatalf("error does not point at the policy: %v", err)
				}
			})
		}
	}
}

// TestPolicyMissingCapabilityFailsBeforeCreating: a rotation whose token may
// not write the target fails permanently, naming the path and the capability,
// before any key is created.
func TestPolicyMissingCapabilityFailsBeforeCreating(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t)
	rules := vault.PolicyRules(w.cfg)
	for i := range rules {
		if strings.HasSuffix(rules[i].Path, "/apps/*") && strings.Contains(rules[i].Path, "/data/") {
			rules[i].Capabilities = []string{"read"}
		}
	}
	name := "fb-noupdate-" + w.prefix
	if err := w.v.Client(t).Sys().PutPolicy(name, vault.RenderPolicy(rules)); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, w.v)
	f.path = w.prefix + "/apps/svc/openai"
	w.v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": f.old}})
	rid, sid := appRole(t, w.v, "noupdate-"+w.prefix, []string{name}, "5m", "10m")
	r := &vault.Rotator{Client: appRoleClient(t, w.v, rid, sid), IntentPrefix: w.cfg.Intents.Prefix}
	_, err := r.Rotate(context.Background(), f.rotation("inc_nopolicy"))
	want := `"update" on secret/data/` + f.path
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was created") {
		t.Fatalf("err = %v, want a permanent error naming %s", err, want)
	}
	if len(f.emu.Creations()) != 0 || !f.emu.Live(f.old) {
		t.Fatal("a key was created or revoked")
	}
}
