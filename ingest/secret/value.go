// Package secret holds the types that carry raw secrets and the primitives that
// keep them from leaking: a redacting value type, sealing under a keyring, and
// keyed fingerprints.
//
// A raw secret exists only in memory, inside the code that needs it. Value
// prints, formats and marshals as [REDACTED]; the only way to the plaintext is
// Reveal, which is easy to grep for in review.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a Value prints as, in every format.
const Redacted = "[REDACTED]"

// Value holds a raw secret. Its zero value is the empty secret.
//
// Value implements fmt.Formatter, fmt.Stringer, fmt.GoStringer,
// encoding.TextMarshaler, json.Marshaler and slog.LogValuer so that it renders
// as [REDACTED] whichever way it reaches a log line, an error string or a
// document. It deliberately has no Unmarshal methods: a secret never enters
// Firebreak through a decoded document field typed as Value.
type Value struct {
	b []byte
}

// New returns a Value holding a copy of s.
func New(s string) Value { return Value{b: []byte(s)} }

// FromBytes returns a Value holding a copy of b.
func FromBytes(b []byte) Value { return Value{b: append([]byte(nil), b...)} }

// Reveal returns the plaintext. Call it only at the point of use (an HTTP
// header, a request body, an HMAC) and never store the result.
func (v Value) Reveal() string { return string(v.b) }

// Bytes returns a copy of the plaintext.
func (v Value) Bytes() []byte { return append([]byte(nil), v.b...) }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return len(v.b) == 0 }

// Len returns the length of the plaintext in bytes.
func (v Value) Len() int { return len(v.b) }

// Equal compares two secrets in constant time, lengths included (equalDigests).
func (v Value) Equal(o Value) bool { return equalDigests(v.b, o.b) }

// Matches reports whether presented — a credential a request carries: a
// bearer token, an HEC token, a Basic password — is v, the one configured.
// It takes the same time whatever either holds, their lengths included
// (equalDigests): subtle.ConstantTimeCompare alone answers at once when the
// lengths differ, which tells a caller the configured token's length. A zero
// Value matches nothing.
func (v Value) Matches(presented []byte) bool {
	return !v.IsZero() && equalDigests(presented, v.b)
}

// equalDigests compares the SHA-256 digests of a and b in constant time:
// equal digests mean equal bytes, and the time taken depends on neither
// content nor length (hashing is linear in the length of what a caller
// sent, which the caller knows).
func equalDigests(a, b []byte) bool {
	da, db := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// Wipe overwrites the plaintext in place. Copies made by Reveal are not affected.
func (v *Value) Wipe() {
	for i := range v.b {
		v.b[i] = 0
	}
	v.b = nil
}

func (Value) String() string               { return Redacted }
func (Value) GoString() string             { return Redacted }
func (Value) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(Redacted)) }
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Value) LogValue() slog.Value         { return slog.StringValue(Redacted) }
