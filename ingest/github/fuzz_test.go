package github

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"
)

func FuzzParsePartner(f *testing.F) {
	f.Add([]byte(`[{"token":"t","type":"x","url":"https://github.com/o/r/blob/abc/p","source":"content"}]`))
	f.Add([]byte(`{"token":"t"}`))
	f.Add([]byte(`[{"token":"","type":""}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParsePartner(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Token == "" || m.Type == "" {
				t.Fatal("accepted a match without token or type")
			}
		}
	})
}

func FuzzParsePartnerSignature(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sum := sha256.Sum256([]byte("body"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	good := base64.StdEncoding.EncodeToString(sig)
	f.Add(good)
	f.Add("MEUCIQ==")
	f.Add("")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, h string) {
		b, err := ParsePartnerSignature(h)
		if h == good && (err != nil || !VerifyPartner(&key.PublicKey, []byte("body"), b)) {
			t.Fatalf("the genuine signature does not verify: %v", err)
		}
		if err != nil {
			return
		}
		// Whatever verifies for "body" was signed over it: never another body.
		if VerifyPartner(&key.PublicKey, []byte("other"), b) {
			t.Fatalf("signature %q verifies a body it was not made for", h)
		}
	})
}

func FuzzParsePartnerKeys(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	good, _ := json.Marshal(map[string]any{"public_keys": []any{map[string]any{"key_identifier": "k1", "key": p, "is_current": true}}})
	f.Add(good)
	f.Add([]byte(`{"public_keys":[{"key_identifier":"k","key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParsePartnerKeys(b)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

func FuzzParseIssue(f *testing.F) {
	f.Add("issue_comment", []byte(`{"action":"created","issue":{"number":1},"comment":{"id":2,"body":"b"},"repository":{"full_name":"o/r"}}`))
	f.Add("issues", []byte(`{"action":"opened","issue":{"number":1,"title":"t","body":"b"},"repository":{"full_name":"o/r"}}`))
	f.Add("issues", []byte(`{"action":"closed"}`))
	f.Fuzz(func(t *testing.T, event string, b []byte) {
		p, ignored, err := ParseIssue(event, b)
		if err != nil || ignored != "" {
			return
		}
		tk := p.Ticket(event)
		if tk.Ref == "" || len(tk.Fields) == 0 {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

func TestPartnerSignatureVerification(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body := []byte(`[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]`)
	sum := sha256.Sum256(body)
	der, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	sig, err := ParsePartnerSignature(base64.StdEncoding.EncodeToString(der))
	if err != nil || !VerifyPartner(&key.PublicKey, body, sig) {
		t.Fatalf("a valid signature does not verify: %v", err)
	}
	if VerifyPartner(&key.PublicKey, append(body, ' '), sig) {
		t.Fatal("a signature verified over a changed body")
	}
	// GitHub's documented test key and sample (docs: "Secret scanning partner program").
	const pub = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP\nHzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==\n-----END PUBLIC KEY-----\n"
	doc, _ := json.Marshal(map[string]any{"public_keys": []any{map[string]any{"key_identifier": "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d", "key": pub, "is_current": true}}})
	keys, err := ParsePartnerKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ = ParsePartnerSignature("MEUCIFLZzeK++IhS+y276SRk2Pe5LfDrfvTXu6iwKKcFGCrvAiEAhHN2kDOhy2I6eGkOFmxNkOJ+L2y8oQ9A2T9GGJo6WJY=")
	if !VerifyPartner(keys["f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"], []byte(`[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]`), sig) {
		t.Fatal("GitHub's documented sample signature does not verify")
	}
}
