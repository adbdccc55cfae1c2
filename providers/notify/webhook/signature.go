package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// HeaderTimestamp is the time of sending, in Unix seconds (decimal).
	HeaderTimestamp = "Firebreak-Timestamp"
	// HeaderSignature holds one or more signatures, "v1=<hex>", separated by
	// commas or spaces. v1 is HMAC-SHA256 under the shared secret over
	// timestamp + "." + body, the timestamp exactly as sent in
	// HeaderTimestamp. Receivers ignore schemes they do not know.
	HeaderSignature = "Firebreak-Signature"
	// HeaderDelivery repeats the envelope's id, for logging and routing
	// without parsing the body. It is not signed: deduplicate on the id in
	// the (signed) body.
	HeaderDelivery = "Firebreak-Delivery"
)

// SignatureScheme is the scheme label of the current signature.
const SignatureScheme = "v1"

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way, before Verify rejects it as stale.
const DefaultTolerance = 5 * time.Minute

// Verification errors. Verify wraps them with detail; test with errors.Is.
var (
	ErrNoSignature  = errors.New("webhook: no signature (missing " + HeaderSignature + " or " + HeaderTimestamp + " header)")
	ErrBadSignature = errors.New("webhook: signature does not verify")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Limits of the signature header, so that a hostile header costs little.
const (
	maxSignatureHeader = 2048
	maxSignatures      = 8
)

// Sign returns the HeaderSignature value for body sent at timestamp t:
// "v1=" + hex(HMAC-SHA256(key, "<unix seconds>." + body)).
func Sign(key []byte, t time.Time, body []byte) string {
	return SignatureScheme + "=" + hex.EncodeToString(mac(key, strconv.FormatInt(t.Unix(), 10), body))
}

func mac(key []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery as a receiver must before acting on it: that
// header carries a timestamp and a v1 signature of body under secret, compared
// in constant time, and that the timestamp is within tolerance of now (either
// way; tolerance <= 0 means DefaultTolerance).
//
// It returns nil, or an error wrapping ErrNoSignature (a header is missing),
// ErrBadSignature (malformed header, wrong secret, tampered body or timestamp)
// or ErrStale (authentic, but too old or too far in the future). Verify does
// not detect a replay within the tolerance: receivers also reject an
// envelope id they have already accepted (see the package documentation).
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sig := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return ErrNoSignature
	}
	if len(secret) == 0 {
		return fmt.Errorf("%w: the receiver has no secret", ErrBadSignature)
	}
	sent, err := parseTimestamp(ts)
	if err != nil {
		return err
	}
	sigs, err := parseSignatureHeader(sig)
	if err != nil {
		return err
	}
	want := mac(secret, ts, body)
	ok := 0
	for _, s := range sigs {
		ok |= subtleEqual(s, want) // check every signature: no early exit
	}
	if ok == 0 {
		return ErrBadSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: sent at %s, %s from the receiver's clock (tolerance %s)",
			ErrStale, sent.UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	return nil
}

func subtleEqual(a, b []byte) int {
	if hmac.Equal(a, b) {
		return 1
	}
	return 0
}

// parseTimestamp parses Unix seconds: 1 to 12 ASCII digits, nothing else.
func parseTimestamp(s string) (time.Time, error) {
	if len(s) == 0 || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%w: malformed %s header", ErrBadSignature, HeaderTimestamp)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: malformed %s header", ErrBadSignature, HeaderTimestamp)
	}
	return time.Unix(n, 0), nil
}

// parseSignatureHeader returns the v1 signatures of a HeaderSignature value:
// scheme=value items separated by commas and/or spaces. Items of other
// schemes are skipped (a later scheme can be sent alongside v1); a malformed
// item, a v1 value that is not 32 bytes of hex, too many items, or no v1
// item at all is an error wrapping ErrBadSignature.
func parseSignatureHeader(h string) ([][]byte, error) {
	if len(h) > maxSignatureHeader {
		return nil, fmt.Errorf("%w: %s header too long", ErrBadSignature, HeaderSignature)
	}
	items := strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(items) > maxSignatures {
		return nil, fmt.Errorf("%w: too many signatures in %s", ErrBadSignature, HeaderSignature)
	}
	var sigs [][]byte
	for _, it := range items {
		scheme, val, ok := strings.Cut(it, "=")
		if !ok || scheme == "" || val == "" {
			return nil, fmt.Errorf("%w: malformed %s header", ErrBadSignature, HeaderSignature)
		}
		if scheme != SignatureScheme {
			continue
		}
		b, err := hex.DecodeString(val)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%w: malformed %s signature", ErrBadSignature, SignatureScheme)
		}
		sigs = append(sigs, b)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no %s signature", ErrBadSignature, SignatureScheme)
	}
	return sigs, nil
}
