package vault_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/vault"
)

func TestRotateEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := f.rotator()
	rot := f.rotation("inc_e2e")
	out, err := r.Rotate(ctxT(t), rot)
	if err != nil {
		t.Fatal(err)
	}
	newKey := f.assertRotated(t, r, "inc_e2e")
	if out.Action != "rotated" || out.Version != 2 || !out.Revoked || out.AlreadyRevoked || out.Resumed {
		t.Fatalf("outcome = %+v", out)
	}
	if len(f.emu.Creations()) != 1 {
		t.Fatalf("%d keys created, want 1", len(f.emu.Creations()))
	}
	detail := out.Detail(rot)
	if !strings.Contains(detail, "rotated secret/"+f.path+"#api_key") || !strings.Contains(detail, "revoked the old key") {
		t.Fatalf("detail = %q", detail)
	}
	providertest.AssertNoSecret(t, f.old, detail, out.NewHint)
	providertest.AssertNoSecret(t, newKey, detail, out.NewHint)

	// Running it again (a redelivery after success) changes nothing.
	out2, err := r.Rotate(ctxT(t), rot)
	if err != nil {
		t.Fatal(err)
	}
	if out2.Action != "rotated" || !out2.Resumed || out2.Version != 2 {
		t.Fatalf("second run: %+v", out2)
	}
	f.assertRotated(t, r, "inc_e2e")
	if len(f.emu.Creations()) != 1 {
		t.Fatal("a second run created another key")
	}
}

// TestRotateCrashBetweenEverySteps stops the rotation at every phase, as a
// crash would (no clean-up runs), then runs it again as the redelivery does,
// and checks the emulator and Vault: exactly one new key, one revocation.
func TestRotateCrashBetweenEverySteps(t *testing.T) {
	t.Parallel()
	for _, phase := range vault.Phases {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			r := f.rotator()
			crashed := false
			r.Hook = func(_ context.Context, p vault.Phase) error {
				if p == phase && !crashed {
					crashed = true
					return errCrash
				}
				return nil
			}
			rot := f.rotation("inc_crash")
			if _, err := r.Rotate(ctxT(t), rot); !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v, want the crash", err)
			}
			out, err := r.Rotate(ctxT(t), rot)
			if err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if out.Action != "rotated" || !out.Resumed {
				t.Fatalf("redelivery outcome = %+v", out)
			}
			f.assertRotated(t, r, "inc_crash")
			if phase == vault.PhaseCreated {
				// The key made before the crash was never recorded: the
				// redelivery found it by name and deleted it.
				if len(f.emu.Creations()) != 2 || !strings.Contains(strings.Join(out.Notes, ";"), "deleted 1 unrecorded key") {
					t.Fatalf("creations %d, notes %v", len(f.emu.Creations()), out.Notes)
				}
			} else if len(f.emu.Creations()) != 1 {
				t.Fatalf("%d keys created, want 1", len(f.emu.Creations()))
			}
		})
	}
}

// TestRotateConcurrently runs two rotations of the same secret at once, as two
// Firebreak deployments sharing a Vault would: one wins, the other sees the new
// version and creates nothing.
func TestRotateConcurrently(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	outs := make([]vault.Outcome, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.rotator()
			r.Client = rootClient(t, f.v) // a responder of its own
			rot := f.rotation([]string{"inc_a", "inc_b"}[i])
			for range 50 {
				outs[i], errs[i] = r.Rotate(ctxT(t), rot)
				if class, _ := providers.Classify(errs[i]); errs[i] == nil || class != providers.Retryable {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	actions := []string{outs[0].Action, outs[1].Action}
	if !(actions[0] == "rotated" && actions[1] == "already_rotated" || actions[0] == "already_rotated" && actions[1] == "rotated") {
		t.Fatalf("actions = %v, want one rotated and one already_rotated", actions)
	}
	if outs[0].Version != 2 || outs[1].Version != 2 {
		t.Fatalf("versions = %d, %d; both must see version 2", outs[0].Version, outs[1].Version)
	}
	winner := "inc_a"
	if actions[1] == "rotated" {
		winner = "inc_b"
	}
	f.assertRotated(t, f.rotator(), winner)
	if len(f.emu.Creations()) != 1 {
		t.Fatalf("%d keys created, want 1", len(f.emu.Creations()))
	}
}

// TestRotateCASConflict: someone writes the secret while the rotation is
// between recording its new key and writing it. The check-and-set write
// fails; the rotation deletes its new key and says it rolled back; the retry
// sees the other write and leaves it alone.
func TestRotateCASConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := f.rotator()
	const humanKey = "sk-proj-rotated-by-hand-0000000000000000000000000000"
	r.Hook = func(ctx context.Context, p vault.Phase) error {
		if p == vault.PhaseRecorded {
			f.v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": humanKey, "endpoint": "x"}})
		}
		return nil
	}
	rot := f.rotation("inc_cas")
	_, err := r.Rotate(ctxT(t), rot)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Retryable || !errors.Is(err, vault.ErrCASConflict) {
		t.Fatalf("err = %v, want a retryable check-and-set conflict", err)
	}
	if !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "changed concurrently") {
		t.Fatalf("error does not say it rolled back: %v", err)
	}
	if len(f.liveCreated()) != 0 || len(f.emu.Creations()) != 1 {
		t.Fatalf("the new key was not deleted: %d live of %d", len(f.liveCreated()), len(f.emu.Creations()))
	}
	if got := f.current(t).Data["api_key"]; got != humanKey {
		t.Fatal("the concurrent write was overwritten")
	}
	// The retry (the responder's redelivery) sees that version 2 replaced the
	// leaked key, creates nothing, and ensures the old key is revoked.
	r.Hook = nil
	out, err := r.Rotate(ctxT(t), rot)
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != "already_rotated" || out.Version != 2 || !out.Revoked {
		t.Fatalf("outcome = %+v", out)
	}
	if len(f.emu.Creations()) != 1 || f.oldDeletions() != 1 || f.emu.Live(f.old) {
		t.Fatal("want no new key and one revocation of the old key")
	}
}

func TestRotateRefusesAPathWithoutTheLeakedKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": "sk-proj-someone-elses-key-1111111111111111"}})
	f.v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": "sk-proj-someone-elses-key-2222222222222222"}})
	_, err := f.rotator().Rotate(ctxT(t), f.rotation("inc_x"))
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), "does not hold the leaked key") {
		t.Fatalf("err = %v", err)
	}
	if len(f.emu.Creations()) != 0 || !f.emu.Live(f.old) {
		t.Fatal("something was created or revoked")
	}
	providertest.AssertNoSecret(t, f.old, err.Error())
}

// TestRotateRollsBackWhenTheNewKeyNeverGoesLive: the provider never accepts
// the new key (here: it is deleted behind Firebreak's back); after the allowed checks the
// rotation restores the previous data, deletes the new key and says so.
func TestRotateRollsBackWhenTheNewKeyNeverGoesLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := f.rotator()
	r.VerifyAttempts = 2
	var newKey string
	r.Hook = func(ctx context.Context, p vault.Phase) error {
		if p == vault.PhaseMetadata && newKey == "" {
			c := f.emu.Creations()[0]
			newKey = f.emu.KeyOf(c.ProjectID, c.ServiceAccountID)
			if err := f.oa.DeleteCreated(ctx, providers.Created{Facts: map[string]string{"project_id": c.ProjectID, "service_account_id": c.ServiceAccountID}}); err != nil {
				return err
			}
		}
		return nil
	}
	rot := f.rotation("inc_dead")
	var err error
	for range 3 {
		if _, err = r.Rotate(ctxT(t), rot); err == nil {
			break
		}
		if class, _ := providers.Classify(err); class != providers.Retryable {
			break
		}
	}
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("err = %v, want a permanent roll-back", err)
	}
	cur := f.current(t)
	if cur.Data["api_key"] != f.old || cur.Version != 3 {
		t.Fatalf("version %d does not restore the previous data", cur.Version)
	}
	if _, err := f.c.KVRead(context.Background(), "secret", r.IntentPath("secret", f.path), 0); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("intent left behind")
	}
	providertest.AssertNoSecret(t, newKey, err.Error())
	providertest.AssertNoSecret(t, f.old, err.Error())
	if f.oldDeletions() != 0 {
		t.Fatal("the old key was revoked by a rolled-back rotation")
	}
	_ = secret.Hint
}
