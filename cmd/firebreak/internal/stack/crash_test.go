package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

const crashChildEnv = "FIREBREAK_CRASH_CHILD"

// crashSpec is what the parent tells a child Firebreak process.
type crashSpec struct {
	NATS, DataDir, Keyring, OpenAI, AdminKeyFile string
	Vault, TokenFile, Playbooks, Prefix          string
	CrashAt                                      vault.Phase
}

// runCrashChild is a Firebreak process (the test binary re-executed): it
// serves from the parent's JetStream, and SIGKILLs itself when the rotation
// reaches spec.CrashAt — no deferred clean-up, no ack, no outcome recorded.
func runCrashChild() int {
	var spec crashSpec
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	f := false
	cfg := &config.Config{DataDir: spec.DataDir}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Keyring.File = spec.Keyring
	cfg.NATS.URL = spec.NATS
	cfg.NATS.AckWait = config.Duration(time.Second)
	cfg.Playbooks.Builtin = &f
	cfg.Playbooks.Dir = spec.Playbooks
	cfg.Providers.OpenAI.BaseURL = spec.OpenAI
	cfg.Providers.OpenAI.AdminKey = secret.Ref("file:" + spec.AdminKeyFile)
	cfg.Vault = config.Vault{Address: spec.Vault, Dev: true, Auth: config.VaultAuth{Method: "token", Token: secret.Ref("file:" + spec.TokenFile)},
		Rotation: config.VaultRotate{IntentPrefix: spec.Prefix + "/firebreak/rotations"}}
	cfg.Defaults()
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := app.New(context.Background(), cfg, log, app.Options{RotateHook: func(_ context.Context, p vault.Phase) error {
		if p == spec.CrashAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 2
	}
	if err := a.Run(context.Background(), l); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// TestRotationSurvivesAProcessKill kills a real Firebreak process between
// every pair of rotation steps (SIGKILL: nothing is flushed or acked), starts
// a fresh process on the same JetStream, and checks the emulator and Vault
// after the redelivery: exactly one new key, one revocation of the old key,
// no intent left, the incident contained.
func TestRotationSurvivesAProcessKill(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	for _, phase := range vault.Phases {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			b := bustest.Run(t, bustest.WithListen(fmt.Sprintf("127.0.0.1:%d", port)), bustest.WithAckWait(time.Second))
			dir := t.TempDir()
			kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(dir, "keyring.json"))
			if err != nil {
				t.Fatal(err)
			}
			emu := openaiemu.New()
			emu.Start()
			defer emu.Close()
			admin, _ := emu.AddAdminKey("firebreak")
			adminFile := filepath.Join(dir, "admin-key")
			tok := tokenFile(t, v)
			if err := os.WriteFile(adminFile, []byte(admin), 0o600); err != nil {
				t.Fatal(err)
			}
			project := emu.AddProject("payments")
			raw, oldID := emu.AddKey(project, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "payments-api"})
			prefix := vaulttest.UniquePrefix(t.Name())
			path := prefix + "/apps/prod/payments/openai"
			v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"api_key": raw}})

			// A leak seen in logs, sealed under the shared keyring.
			rv := secret.New(raw)
			fp := kr.Fingerprint(rv)
			sealed, err := kr.Seal(context.Background(), rv, []byte(fp))
			if err != nil {
				t.Fatal(err)
			}
			ev := &exposure.Event{ID: exposure.NewID(time.Now()), Schema: exposure.Schema, Source: exposure.Source{Kind: exposure.SourceLogs},
				Secret:      exposure.Secret{Provider: "openai", Type: "openai_api_key", Fingerprint: fp, Sealed: sealed, Redacted: secret.Hint(rv)},
				Environment: exposure.EnvProd, ReceivedAt: time.Now()}
			pub := &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries, Timeout: 5 * time.Second}
			if _, err := pub.Publish(context.Background(), ev, ev.ID); err != nil {
				t.Fatal(err)
			}
			spec := crashSpec{NATS: fmt.Sprintf("nats://127.0.0.1:%d", port), DataDir: filepath.Join(dir, "data"), Keyring: filepath.Join(dir, "keyring.json"),
				OpenAI: emu.URL(), AdminKeyFile: adminFile, Vault: v.Addr, TokenFile: tok, Playbooks: rotatePlaybook(t, prefix, false),
				Prefix: prefix, CrashAt: phase}

			// The first process dies at the phase.
			first := startChild(t, spec)
			err = first.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the first process did not die by SIGKILL at %s: %v", phase, err)
			}
			store := &incident.Store{KV: b.Handles.Incidents}
			id := incident.IDFor(fp)
			if in, _, err := store.Get(context.Background(), id); err != nil || in.State.Terminal() {
				t.Fatalf("after the kill: %v, %+v", err, in)
			}

			// A fresh process picks the redelivery up and finishes.
			spec.CrashAt = ""
			second := startChild(t, spec)
			defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
			var in *incident.Incident
			deadline := time.Now().Add(45 * time.Second)
			for {
				in, _, err = store.Get(context.Background(), id)
				if err == nil && (in.State.Terminal() || in.State == incident.Failed) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("incident not finished after the restart: %+v", in)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if in.State != incident.Contained {
				t.Fatalf("incident %s: %s", in.State, in.Error)
			}
			// Exactly one new key, and it is what Vault holds.
			var live []openaiemu.Creation
			for _, c := range emu.Creations() {
				if emu.ServiceAccountExists(c.ProjectID, c.ServiceAccountID) {
					live = append(live, c)
				}
			}
			if len(live) != 1 {
				t.Fatalf("%d created keys exist (of %d created), want 1", len(live), len(emu.Creations()))
			}
			newKey := emu.KeyOf(live[0].ProjectID, live[0].ServiceAccountID)
			rc := vaultClient(t, v)
			cur, err := rc.KVRead(context.Background(), "secret", path, 0)
			if err != nil || cur.Data["api_key"] != newKey || cur.Version != 2 {
				t.Fatalf("Vault: version %d, err %v; want version 2 holding the new key", cur.Version, err)
			}
			deletedOld := 0
			for _, d := range emu.Deletions() {
				for _, k := range d.KeyIDs {
					if k == oldID {
						deletedOld++
					}
				}
			}
			if deletedOld != 1 || emu.Live(raw) || !emu.Live(newKey) {
				t.Fatalf("old key deleted %d times (live %v), new key live %v", deletedOld, emu.Live(raw), emu.Live(newKey))
			}
			r := &vault.Rotator{IntentPrefix: prefix + "/firebreak/rotations"}
			if _, err := rc.KVRead(context.Background(), "secret", r.IntentPath("secret", path), 0); !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("intent left behind: %v", err)
			}
		})
	}
}

func startChild(t *testing.T, spec crashSpec) *exec.Cmd {
	t.Helper()
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func vaultClient(t *testing.T, v *vaulttest.Server) *vault.Client {
	t.Helper()
	c, err := vault.New(vault.Config{Address: v.Addr, Dev: true, Auth: vault.Auth{Method: vault.AuthToken, Token: secret.Static(secret.New(v.RootToken))}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
