package github

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// FuzzSignatureHeader throws arbitrary X-Hub-Signature-256 headers at the
// webhook handler with a valid ping body: the request is accepted only when
// the header is "sha256=" and the hex of the body's HMAC; anything else is
// 401 and publishes nothing.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	good := SignatureHeader(key, body)
	for _, s := range []string{good, strings.ToUpper(good), "sha256=" + strings.ToUpper(good[7:]), "sha1=abc", "sha256=",
		"sha256=zz", good + " ", " " + good, "sha256=" + strings.Repeat("0", 64), good[:len(good)-1], "SHA256=" + good[7:]} {
		f.Add(s)
	}
	pub := &memPublisher{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	h, err := New(Config{Secret: secret.Static(key), MaxBody: 1 << 20}, pub, l, nil)
	if err != nil {
		f.Fatal(err)
	}
	mac := Sign(key, body)
	f.Fuzz(func(t *testing.T, sig string) {
		w := do(h, "ping", "fuzz-sig", sig, body)
		hexSig, hasPrefix := strings.CutPrefix(sig, "sha256=")
		got, herr := hex.DecodeString(hexSig)
		valid := hasPrefix && herr == nil && hmac.Equal(got, mac)
		switch {
		case valid && w.Code != 200:
			t.Fatalf("a valid signature %q was answered %d: %s", sig, w.Code, w.Body)
		case !valid && w.Code != 401:
			t.Fatalf("signature %q was answered %d, want 401: %s", sig, w.Code, w.Body)
		case !valid && bytes.Contains(w.Body.Bytes(), []byte(sig)) && len(sig) > 8:
			t.Fatalf("the answer echoes the header: %s", w.Body)
		}
	})
}
