package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringCreateSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "keyring.json")
	k, created, err := LoadOrCreateKeyring(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %v, want 0600", st.Mode().Perm())
	}
	ctx := context.Background()
	v := New(canary)
	fp := k.Fingerprint(v)
	sealed, err := k.Seal(ctx, v, []byte(fp))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "CANARY") || !strings.HasPrefix(sealed, "local:k1:") {
		t.Fatalf("sealed form %q", sealed)
	}
	// Reloading gives the same keys.
	k2, created, err := LoadOrCreateKeyring(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	got, err := k2.Open(ctx, sealed, []byte(fp))
	if err != nil || !got.Equal(v) {
		t.Fatalf("open after reload: %v", err)
	}
	if k2.Fingerprint(v) != fp {
		t.Fatal("fingerprint changed across loads")
	}
	// Bound to its aad, authenticated, and keyed.
	if _, err := k.Open(ctx, sealed, []byte("another-fingerprint")); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong aad: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	if _, err := k.Open(ctx, tampered, []byte(fp)); !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := k.Open(ctx, strings.Replace(sealed, ":k1:", ":k9:", 1), []byte(fp)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := k.Open(ctx, "transit:x:y", []byte(fp)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other scheme: %v", err)
	}
	other, _, _ := LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k.json"))
	if other.Fingerprint(v) == fp {
		t.Fatal("fingerprints do not depend on the deployment key")
	}
	if _, err := other.Open(ctx, sealed, []byte(fp)); !errors.Is(err, ErrOpen) {
		t.Fatalf("another deployment opened the secret: %v", err)
	}
}

func TestKeyringRefusesLooseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, _, err := LoadOrCreateKeyring(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyring(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable keyring was accepted: %v", err)
	}
}

func TestParseKeyringErrors(t *testing.T) {
	for _, doc := range []string{`nope`, `{"version":2}`, `{"version":1,"primary":"k1","keys":[{"id":"k1","key":"c2hvcnQ="}]}`,
		`{"version":1,"primary":"k2","keys":[]}`} {
		if _, err := ParseKeyring([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k, _, err := LoadOrCreateKeyring(filepath.Join(f.TempDir(), "k.json"))
	if err != nil {
		f.Fatal(err)
	}
	s, _ := k.Seal(context.Background(), New("x"), nil)
	f.Add(s)
	f.Add("local:k1:")
	f.Add("local::")
	f.Fuzz(func(t *testing.T, in string) {
		v, err := k.Open(context.Background(), in, nil)
		if err == nil && in != s && v.Reveal() != "x" {
			t.Fatalf("opened forged input %q", in)
		}
	})
}
