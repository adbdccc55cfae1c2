package secret

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzRef: configuration references (env:NAME, file:PATH, vault:PATH#FIELD)
// validate without panicking; an invalid one is refused without echoing the
// value (it may be an inline secret); a valid one has an allowed scheme and
// resolves to a source.
func FuzzRef(f *testing.F) {
	for _, s := range []string{"env:TOKEN", "file:/run/secrets/x", "vault:secret/data/x#k", "env:", "sk-live-inline-secret-000", ":", "vault:#", "env: "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := Ref(s)
		err := r.Validate("env", "file", "vault")
		if err != nil {
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the refusal echoes the value at byte %d of %d", strings.Index(err.Error(), s), len(err.Error()))
			}
			return
		}
		scheme, _ := r.Scheme()
		if scheme != "env" && scheme != "file" && scheme != "vault" {
			t.Fatalf("accepted scheme %q", scheme)
		}
		rs := Resolvers{Getenv: func(string) string { return "" }, Vault: nil}
		if scheme != "vault" {
			if _, err := rs.Source(r); err != nil && !errors.Is(err, ErrInlineSecret) {
				t.Fatalf("valid reference %q has no source: %v", s, err)
			}
		}
	})
}

// FuzzParseKeyring: a keyring document either parses into a keyring that
// seals and opens, or is refused with an error that names no key material.
func FuzzParseKeyring(f *testing.F) {
	good, _ := json.Marshal(map[string]any{"version": 1, "primary": "k1",
		"keys":            []any{map[string]any{"id": "k1", "key": strings.Repeat("A", 43) + "="}},
		"fingerprint_key": strings.Repeat("B", 43) + "="})
	f.Add(good)
	f.Add([]byte(`{"version":1,"primary":"k2","keys":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyring(b)
		if err != nil {
			var doc struct {
				Keys []struct {
					Key string `json:"key"`
				} `json:"keys"`
				FingerprintKey string `json:"fingerprint_key"`
			}
			if json.Unmarshal(b, &doc) == nil {
				for _, kk := range append(doc.Keys, struct {
					Key string `json:"key"`
				}{doc.FingerprintKey}) {
					if len(kk.Key) >= 8 && strings.Contains(err.Error(), kk.Key) {
						t.Fatalf("the refusal echoes key material at byte %d of %d", strings.Index(err.Error(), kk.Key), len(err.Error()))
					}
				}
			}
			return
		}
		sealed, err := k.Seal(t.Context(), New("canary"), []byte("fp"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := k.Open(t.Context(), sealed, []byte("fp"))
		if err != nil || v.Reveal() != "canary" {
			t.Fatalf("a parsed keyring does not round-trip: %v", err)
		}
		if k.Fingerprint(New("a")) == k.Fingerprint(New("b")) {
			t.Fatal("fingerprints collide")
		}
	})
}
