package secret

import "context"

// Source supplies a secret at the point of use: a static value from config, a
// file, an environment variable or a Vault read. Consumers resolve it on every
// use rather than holding the plaintext, so that a rotated secret takes effect
// without a restart. Implementations must never put the secret in an error.
type Source interface {
	Secret(ctx context.Context) (Value, error)
}

// Static returns a Source that always yields v.
func Static(v Value) Source { return staticSource{v: v} }

type staticSource struct{ v Value }

func (s staticSource) Secret(context.Context) (Value, error) { return s.v, nil }

// String keeps a Source that is printed (%v of a config struct) from
// revealing its value.
func (staticSource) String() string { return Redacted }
