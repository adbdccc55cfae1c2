package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// keysvc is a test-only key issuer behind real HTTP: an admin token creates
// keys (POST /v1/keys) and revokes them by value (POST /v1/keys/revoke); a key
// authenticates GET /v1/whoami. Its client implements providers.Provider and
// providers.Creator but not CreatedKeys, to exercise rotation over a creator
// that cannot look up what it made.
type keysvc struct {
	srv   *emulator.Server
	admin string
	mu    sync.Mutex
	keys  map[string]*issued // by value
	made  int
	revok int
}

type issued struct {
	id, name string
	live     bool
}

func newKeysvc(t *testing.T) *keysvc {
	k := &keysvc{admin: "adm_" + randHex(16), keys: map[string]*issued{}}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+k.admin {
				http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /v1/keys", auth(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		k.mu.Lock()
		v := "ks_" + randHex(24)
		k.keys[v] = &issued{id: "key_" + randHex(6), name: body.Name, live: true}
		k.made++
		id := k.keys[v].id
		k.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "name": body.Name, "secret": v})
	}))
	mux.HandleFunc("POST /v1/keys/revoke", auth(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Secret string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		k.mu.Lock()
		defer k.mu.Unlock()
		key := k.keys[body.Secret]
		if key == nil || !key.live {
			http.Error(w, `{"error":"no such key"}`, http.StatusNotFound)
			return
		}
		key.live = false
		k.revok++
		_ = json.NewEncoder(w).Encode(map[string]string{"id": key.id})
	}))
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		k.mu.Lock()
		key := k.keys[v]
		k.mu.Unlock()
		if key == nil || !key.live {
			http.Error(w, `{"error":"invalid key"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"id": key.id})
	})
	k.srv = emulator.New(mux, func(int) (string, []byte) { return "application/json", []byte(`{"error":"fault"}`) })
	k.srv.Start()
	t.Cleanup(k.srv.Close)
	return k
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (k *keysvc) add() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := "ks_" + randHex(24)
	k.keys[v] = &issued{id: "key_" + randHex(6), live: true}
	return v
}

func (k *keysvc) liveNamed() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, key := range k.keys {
		if key.live && key.name != "" {
			n++
		}
	}
	return n
}

// keysvcClient is the test-only provider client.
type keysvcClient struct{ api providers.API }

func (k *keysvc) client() *keysvcClient {
	admin := k.admin
	return &keysvcClient{api: providers.API{Provider: "keysvc", BaseURL: k.srv.URL(),
		Header: func(h http.Header) {
			if h.Get("Authorization") == "" {
				h.Set("Authorization", "Bearer "+admin)
			}
		}}}
}

func (c *keysvcClient) Spec() providers.Spec {
	return providers.Spec{Name: "keysvc", Verify: true, Revoke: true, Rotate: true}
}

func (c *keysvcClient) Verify(ctx context.Context, cr providers.Credential) (providers.VerifyResult, error) {
	status, _, err := c.api.Do(ctx, providers.Request{Op: providers.OpVerify, Method: http.MethodGet, Path: "/v1/whoami",
		Header: http.Header{"Authorization": {"Bearer " + cr.Secret.Reveal()}}, Scrub: cr.Secret})
	if status == http.StatusUnauthorized {
		return providers.VerifyResult{Live: false}, nil
	}
	return providers.VerifyResult{Live: err == nil}, err
}

func (c *keysvcClient) Revoke(ctx context.Context, cr providers.Credential) (providers.RevokeResult, error) {
	var out struct{ ID string }
	status, _, err := c.api.Do(ctx, providers.Request{Op: providers.OpRevoke, Method: http.MethodPost, Path: "/v1/keys/revoke",
		Body: map[string]string{"secret": cr.Secret.Reveal()}, Out: &out, Scrub: cr.Secret})
	if status == http.StatusNotFound {
		return providers.RevokeResult{AlreadyRevoked: true}, nil
	}
	if err != nil {
		return providers.RevokeResult{}, err
	}
	return providers.RevokeResult{Action: "revoked", KeyID: out.ID}, nil
}

func (c *keysvcClient) Plan(providers.Op, providers.Credential) []providers.Call { return nil }

func (c *keysvcClient) Create(ctx context.Context, r providers.CreateRequest) (providers.Created, error) {
	var out struct{ ID, Secret string }
	if _, _, err := c.api.Do(ctx, providers.Request{Op: providers.OpCreate, Method: http.MethodPost, Path: "/v1/keys",
		Body: map[string]string{"name": r.Name}, Out: &out}); err != nil {
		return providers.Created{}, err
	}
	v := secret.New(out.Secret)
	return providers.Created{Credential: providers.Credential{Provider: "keysvc", Secret: v, KeyID: out.ID, Hint: secret.Hint(v)}}, nil
}

// TestRotateGenericCreator rotates through a second, unrelated creator, and
// crashes it at every phase: everything OpenAI's rotation guarantees holds,
// except that a key created and not yet recorded cannot be found again — the
// redelivery says so instead of pretending.
func TestRotateGenericCreator(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	for _, phase := range append([]vault.Phase{""}, vault.Phases...) {
		name := string(phase)
		if name == "" {
			name = "no_crash"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ks := newKeysvc(t)
			cl := ks.client()
			kr := keyring(t)
			old := ks.add()
			prefix := vaulttest.UniquePrefix(t.Name())
			path := prefix + "/svc/keysvc"
			v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"token": old}})
			r := &vault.Rotator{Client: rootClient(t, v), IntentPrefix: prefix + "/rotations"}
			crashed := false
			r.Hook = func(_ context.Context, p vault.Phase) error {
				if p == phase && !crashed {
					crashed = true
					return errCrash
				}
				return nil
			}
			ov := secret.New(old)
			rot := vault.Rotation{Incident: "inc_generic", Step: "pb/rotate", Mount: "secret", Path: path, Field: "token",
				Old:      providers.Credential{Provider: "keysvc", Secret: ov, Fingerprint: kr.Fingerprint(ov), Hint: secret.Hint(ov)},
				Provider: cl, Creator: cl, RevokeOld: true}
			out, err := r.Rotate(ctxT(t), rot)
			if phase != "" {
				if err != errCrash {
					t.Fatalf("first run: %v", err)
				}
				out, err = r.Rotate(ctxT(t), rot)
			}
			if err != nil {
				t.Fatal(err)
			}
			cur, err := r.Client.KVRead(ctxT(t), "secret", path, 0)
			if err != nil {
				t.Fatal(err)
			}
			newKey, _ := cur.Data["token"].(string)
			if cur.Version != 2 || newKey == old || out.Action != "rotated" {
				t.Fatalf("version %d, action %s", cur.Version, out.Action)
			}
			ks.mu.Lock()
			live, made, revoked, oldLive := ks.keys[newKey] != nil && ks.keys[newKey].live, ks.made, ks.revok, ks.keys[old].live
			ks.mu.Unlock()
			if !live || oldLive || revoked != 1 {
				t.Fatalf("new live %v, old live %v, revocations %d", live, oldLive, revoked)
			}
			if phase == vault.PhaseCreated {
				if made != 2 || ks.liveNamed() != 2 || !strings.Contains(strings.Join(out.Notes, ";"), "cannot look up") {
					t.Fatalf("made %d, live %d, notes %v: want the orphan reported", made, ks.liveNamed(), out.Notes)
				}
			} else if made != 1 || ks.liveNamed() != 1 {
				t.Fatalf("made %d keys, %d live; want exactly 1", made, ks.liveNamed())
			}
		})
	}
}
