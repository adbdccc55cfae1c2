package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sealer seals secrets for transport and rest, and opens them again. The aad
// (additional authenticated data) binds a sealed secret to its context — Firebreak
// passes the secret's fingerprint — so a sealed blob cannot be moved to another
// event. Implementations must never include plaintext in returned errors.
type Sealer interface {
	// Seal encrypts v. The result is a printable string that names the keyring
	// scheme and key, e.g. "local:k1:…".
	Seal(ctx context.Context, v Value, aad []byte) (string, error)
	// Open decrypts a string made by Seal. It returns ErrUnknownKey when the
	// sealed form names a key this keyring does not hold, and ErrOpen when
	// authentication fails (wrong key, tampered ciphertext or aad).
	Open(ctx context.Context, sealed string, aad []byte) (Value, error)
}

// Errors returned by Sealer implementations.
var (
	ErrUnknownKey = errors.New("secret: sealed with a key this keyring does not hold")
	ErrOpen       = errors.New("secret: cannot open sealed secret (wrong key or tampered)")
	ErrMalformed  = errors.New("secret: malformed sealed secret")
)

// LocalScheme prefixes secrets sealed by a local Keyring.
const LocalScheme = "local"

// Keyring seals with AES-256-GCM under the newest of its data keys, opens with
// any of them, and computes fingerprints under a separate deployment key. All
// instances of one deployment must share the same keyring file.
type Keyring struct {
	primary        string
	keys           map[string]cipher.AEAD
	fingerprintKey []byte
}

// keyringFile is the on-disk form of a Keyring.
type keyringFile struct {
	Version        int          `json:"version"`
	Primary        string       `json:"primary"`
	Keys           []keyringKey `json:"keys"`
	FingerprintKey string       `json:"fingerprint_key"`
}

type keyringKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Key     string    `json:"key"`
}

// LoadOrCreateKeyring reads the keyring at path, creating it (mode 0600, with a
// fresh data key and fingerprint key) when it does not exist. It refuses a
// keyring file that group or others can read. created reports whether a new
// file was written.
func LoadOrCreateKeyring(path string) (k *Keyring, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyringFile(path); err != nil {
			return nil, false, err
		}
		b, err = os.ReadFile(path)
		created = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("read keyring: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("keyring %s is readable by group or others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	k, err = ParseKeyring(b)
	if err != nil {
		return nil, false, fmt.Errorf("keyring %s: %w", path, err)
	}
	return k, created, nil
}

func createKeyringFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create keyring dir: %w", err)
	}
	kf := keyringFile{
		Version:        1,
		Primary:        "k1",
		Keys:           []keyringKey{{ID: "k1", Created: time.Now().UTC(), Key: randomB64(32)}},
		FingerprintKey: randomB64(32),
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it first; read theirs
	}
	if err != nil {
		return fmt.Errorf("create keyring: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write keyring: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync keyring: %w", err)
	}
	return f.Close()
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // unrecoverable: no safe keys without randomness
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ParseKeyring parses the JSON form of a keyring.
func ParseKeyring(b []byte) (*Keyring, error) {
	var kf keyringFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("not a keyring document: %w", err)
	}
	if kf.Version != 1 {
		return nil, fmt.Errorf("unsupported keyring version %d", kf.Version)
	}
	k := &Keyring{primary: kf.Primary, keys: map[string]cipher.AEAD{}}
	for i, kk := range kf.Keys {
		if kk.ID == "" || strings.ContainsAny(kk.ID, ": ") {
			return nil, fmt.Errorf("keys[%d]: id must be non-empty without ':' or spaces", i)
		}
		raw, err := base64.StdEncoding.DecodeString(kk.Key)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("keys[%d] (%s): key must be 32 bytes of base64", i, kk.ID)
		}
		block, _ := aes.NewCipher(raw)
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys[kk.ID] = aead
	}
	if _, ok := k.keys[k.primary]; !ok {
		return nil, fmt.Errorf("primary key %q is not among the keys", k.primary)
	}
	fk, err := base64.StdEncoding.DecodeString(kf.FingerprintKey)
	if err != nil || len(fk) < 32 {
		return nil, errors.New("fingerprint_key must be at least 32 bytes of base64")
	}
	k.fingerprintKey = fk
	return k, nil
}

// Seal implements Sealer: "local:<key id>:<base64(nonce || ciphertext)>".
func (k *Keyring) Seal(_ context.Context, v Value, aad []byte) (string, error) {
	aead := k.keys[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+v.Len()+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := aead.Seal(nonce, nonce, v.b, aad)
	return LocalScheme + ":" + k.primary + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open implements Sealer.
func (k *Keyring) Open(_ context.Context, sealed string, aad []byte) (Value, error) {
	scheme, rest, ok := strings.Cut(sealed, ":")
	if !ok || scheme != LocalScheme {
		return Value{}, fmt.Errorf("%w: not a %q sealed secret", ErrUnknownKey, LocalScheme)
	}
	kid, body, ok := strings.Cut(rest, ":")
	if !ok {
		return Value{}, ErrMalformed
	}
	aead, ok := k.keys[kid]
	if !ok {
		return Value{}, fmt.Errorf("%w: key %q", ErrUnknownKey, kid)
	}
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return Value{}, ErrMalformed
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return Value{}, ErrOpen
	}
	return Value{b: pt}, nil
}

// Fingerprint returns the hex HMAC-SHA256 of v under the deployment's
// fingerprint key. Equal secrets have equal fingerprints within a deployment;
// without the key a fingerprint reveals nothing about the secret.
func (k *Keyring) Fingerprint(v Value) string {
	return FingerprintBytes(k.fingerprintKey, v.b)
}

// FingerprintBytes is the keyed fingerprint of raw bytes; the scanner uses it on
// byte slices of its input so that no string copy of a secret is made.
func FingerprintBytes(key, b []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// FingerprintKey returns a copy of the deployment's fingerprint key, for
// components (like the detector) that fingerprint byte slices directly.
func (k *Keyring) FingerprintKey() []byte { return append([]byte(nil), k.fingerprintKey...) }
