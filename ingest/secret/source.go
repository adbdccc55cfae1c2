package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
)

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

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Value, error)

// Secret implements Source.
func (f SourceFunc) Secret(ctx context.Context) (Value, error) { return f(ctx) }

// ErrNoSecret is returned by a Source that has no value to give.
var ErrNoSecret = errors.New("secret: no value configured")

// Env returns a Source that reads the environment variable name at call time.
// An unset or empty variable yields an error wrapping ErrNoSecret that names
// the variable (never its value).
func Env(name string) Source {
	return SourceFunc(func(context.Context) (Value, error) {
		s := os.Getenv(name)
		if s == "" {
			return Value{}, fmt.Errorf("%w: environment variable %s is empty", ErrNoSecret, name)
		}
		return New(s), nil
	})
}
