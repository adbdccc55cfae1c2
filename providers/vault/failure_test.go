package vault_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// TestRotateSealedVault: a sealed Vault is a retryable failure that names the
// cause, and nothing is created; once unsealed the rotation goes through.
func TestRotateSealedVault(t *testing.T) {
	t.Parallel()
	v := vaulttest.Start(t) // sealing must not disturb the shared server
	f := newFixture(t, v)
	r := f.rotator()
	v.Seal(t)
	_, err := r.Rotate(ctxT(t), f.rotation("inc_sealed"))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Retryable || !errors.Is(err, vault.ErrSealed) || !strings.Contains(err.Error(), "Vault is sealed") {
		t.Fatalf("err = %v, want a retryable 'Vault is sealed'", err)
	}
	if len(f.emu.Creations()) != 0 || !f.emu.Live(f.old) {
		t.Fatal("a sealed Vault must leave the provider untouched")
	}
	v.Unseal(t)
	if _, err := r.Rotate(ctxT(t), f.rotation("inc_sealed")); err != nil {
		t.Fatal(err)
	}
	f.assertRotated(t, r, "inc_sealed")
}

// TestRotateSealedMidway: Vault seals after the new key was created, before it
// is recorded. The rotation deletes the key again (nothing half-done), says it
// rolled back, and the retry after unsealing starts over cleanly.
func TestRotateSealedMidway(t *testing.T) {
	t.Parallel()
	v := vaulttest.Start(t)
	f := newFixture(t, v)
	r := f.rotator()
	sealed := false
	r.Hook = func(_ context.Context, p vault.Phase) error {
		if p == vault.PhaseCreated && !sealed {
			sealed = true
			v.Seal(t)
		}
		return nil
	}
	_, err := r.Rotate(ctxT(t), f.rotation("inc_midway"))
	if class, _ := providers.Classify(err); err == nil || class != providers.Retryable || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("err = %v", err)
	}
	if len(f.liveCreated()) != 0 || !f.emu.Live(f.old) {
		t.Fatal("the new key must be deleted and the old one untouched")
	}
	v.Unseal(t)
	if _, err := r.Rotate(ctxT(t), f.rotation("inc_midway")); err != nil {
		t.Fatal(err)
	}
	f.assertRotated(t, r, "inc_midway")
}

func TestRotateUnreachableVault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	c, err := vault.New(vault.Config{Address: addr, Dev: true, Auth: vault.Auth{Method: vault.AuthToken, Token: secret.Static(secret.New("x"))}})
	if err != nil {
		t.Fatal(err)
	}
	r := &vault.Rotator{Client: c}
	_, err = r.Rotate(ctxT(t), f.rotation("inc_down"))
	if class, _ := providers.Classify(err); err == nil || class != providers.Retryable || !strings.Contains(err.Error(), "Vault unreachable") {
		t.Fatalf("err = %v, want a retryable 'Vault unreachable'", err)
	}
	if len(f.emu.Creations()) != 0 {
		t.Fatal("created a key without Vault")
	}
}

func TestStaticTokenOnlyInDevMode(t *testing.T) {
	_, err := vault.New(vault.Config{Address: "http://127.0.0.1:1", Auth: vault.Auth{Method: vault.AuthToken, Token: secret.Static(secret.New("root"))}})
	if err == nil || !strings.Contains(err.Error(), "only in dev mode") {
		t.Fatalf("err = %v", err)
	}
}
