package vault_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/openai"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

var errCrash = errors.New("simulated crash")

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rootClient is a Firebreak Vault client on the dev root token.
func rootClient(t *testing.T, v *vaulttest.Server) *vault.Client {
	t.Helper()
	c, err := vault.New(vault.Config{Address: v.Addr, Dev: true,
		Auth: vault.Auth{Method: vault.AuthToken, Token: secret.Static(secret.New(v.RootToken))}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keyring(t *testing.T) *secret.Keyring {
	t.Helper()
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// fixture is one OpenAI organization (emulated) whose service-account key
// lives in a real Vault at <prefix>/apps/billing/openai.
type fixture struct {
	v       *vaulttest.Server
	c       *vault.Client
	emu     *openaiemu.Emulator
	oa      *openai.Client
	kr      *secret.Keyring
	project string
	old     string
	oldID   string
	prefix  string
	path    string
}

func newFixture(t *testing.T, v *vaulttest.Server) *fixture {
	t.Helper()
	if v == nil {
		v = vaulttest.Shared(t)
	}
	f := &fixture{v: v, c: rootClient(t, v), kr: keyring(t), prefix: vaulttest.UniquePrefix(t.Name())}
	f.emu = openaiemu.New()
	f.emu.Start()
	t.Cleanup(f.emu.Close)
	admin, _ := f.emu.AddAdminKey("firebreak")
	f.oa = openai.New(openai.Config{BaseURL: f.emu.URL(), AdminKey: secret.Static(secret.New(admin))})
	f.project = f.emu.AddProject("billing")
	f.old, f.oldID = f.emu.AddKey(f.project, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "billing-api"})
	f.path = f.prefix + "/apps/billing/openai"
	v.Write(t, "secret/data/"+f.path, map[string]any{"data": map[string]any{"api_key": f.old, "endpoint": "https://api.openai.com/v1"}})
	return f
}

func (f *fixture) cred() providers.Credential {
	v := secret.New(f.old)
	return providers.Credential{Provider: "openai", Type: "openai_api_key", Secret: v, Fingerprint: f.kr.Fingerprint(v), Hint: secret.Hint(v)}
}

func (f *fixture) rotator() *vault.Rotator {
	return &vault.Rotator{Client: f.c, IntentPrefix: f.prefix + "/firebreak/rotations"}
}

func (f *fixture) rotation(incident string) vault.Rotation {
	return vault.Rotation{Incident: incident, Step: "openai-rotate/rotate", Mount: "secret", Path: f.path, Field: "api_key",
		Old: f.cred(), Provider: f.oa, Creator: f.oa, RevokeOld: true}
}

func (f *fixture) current(t *testing.T) *vault.KVSecret {
	t.Helper()
	s, err := f.c.KVRead(context.Background(), "secret", f.path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// liveCreated returns the service accounts created through the API that
// still exist.
func (f *fixture) liveCreated() []openaiemu.Creation {
	var out []openaiemu.Creation
	for _, c := range f.emu.Creations() {
		if f.emu.ServiceAccountExists(c.ProjectID, c.ServiceAccountID) {
			out = append(out, c)
		}
	}
	return out
}

// oldDeletions counts the deletes that removed the old key.
func (f *fixture) oldDeletions() int {
	n := 0
	for _, d := range f.emu.Deletions() {
		for _, id := range d.KeyIDs {
			if id == f.oldID {
				n++
			}
		}
	}
	return n
}

// assertRotated checks the end state of a completed rotation: exactly one new
// key exists and is live, Vault's current version holds it (other fields
// kept) with the custom metadata, the old key is revoked exactly once, and no
// intent record is left.
func (f *fixture) assertRotated(t *testing.T, r *vault.Rotator, incident string) string {
	t.Helper()
	live := f.liveCreated()
	if len(live) != 1 {
		t.Fatalf("%d created keys exist, want exactly 1 (creations %d, deletions %v)", len(live), len(f.emu.Creations()), f.emu.Deletions())
	}
	newKey := f.emu.KeyOf(live[0].ProjectID, live[0].ServiceAccountID)
	if !f.emu.Live(newKey) {
		t.Fatal("the new key is not live")
	}
	if f.emu.Live(f.old) {
		t.Fatal("the old key is still live")
	}
	if n := f.oldDeletions(); n != 1 {
		t.Fatalf("the old key was deleted %d times, want 1", n)
	}
	cur := f.current(t)
	if got, _ := cur.Data["api_key"].(string); got != newKey {
		t.Fatalf("Vault holds %s, want the new key %s", secret.Hint(secret.New(got)), secret.Hint(secret.New(newKey)))
	}
	if cur.Data["endpoint"] != "https://api.openai.com/v1" {
		t.Fatalf("other fields were not kept: %v", cur.Data["endpoint"])
	}
	md := cur.CustomMetadata
	if md["incident"] != incident || md["rotated_by"] == "" || md["previous_fingerprint"] != f.cred().Fingerprint {
		t.Fatalf("custom metadata = %v", md)
	}
	if _, err := f.c.KVRead(context.Background(), "secret", r.IntentPath("secret", f.path), 0); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("intent record left behind: %v", err)
	}
	return newKey
}
