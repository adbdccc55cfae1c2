package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Ref is a reference to a secret in configuration: "env:NAME" or "file:PATH"
// (and "vault:PATH#FIELD" where a Vault resolver is wired). Configuration never
// holds a secret inline.
type Ref string

// ErrInlineSecret is returned for a configuration value that is not a reference.
var ErrInlineSecret = errors.New("secrets must be references (env:NAME or file:PATH), not inline values")

// Scheme returns the reference's scheme and the rest.
func (r Ref) Scheme() (scheme, rest string) {
	s, rest, ok := strings.Cut(string(r), ":")
	if !ok {
		return "", string(r)
	}
	return s, rest
}

// Validate checks the reference's form without resolving it. It never
// echoes the value: a mistaken inline secret must not reach an error message.
func (r Ref) Validate(allowed ...string) error {
	scheme, rest := r.Scheme()
	if len(allowed) == 0 {
		allowed = []string{"env", "file"}
	}
	for _, a := range allowed {
		if scheme == a {
			if strings.TrimSpace(rest) == "" {
				return fmt.Errorf("reference %q names nothing", scheme+":")
			}
			return nil
		}
	}
	return ErrInlineSecret
}

// IsZero reports whether no reference is set.
func (r Ref) IsZero() bool { return r == "" }

// String shows the reference (it is not the secret).
func (r Ref) String() string { return string(r) }

// Resolvers turns references into Sources. Vault is optional.
type Resolvers struct {
	// Vault resolves "vault:" references (path#field); nil disables them.
	Vault func(ctx context.Context, ref string) (Value, error)
	// Getenv defaults to os.Getenv.
	Getenv func(string) string
}

// Source returns a Source for r that reads the secret at every use.
func (rs Resolvers) Source(r Ref) (Source, error) {
	allowed := []string{"env", "file"}
	if rs.Vault != nil {
		allowed = append(allowed, "vault")
	}
	if err := r.Validate(allowed...); err != nil {
		return nil, err
	}
	return refSource{ref: r, rs: rs}, nil
}

type refSource struct {
	ref Ref
	rs  Resolvers
}

func (s refSource) String() string { return string(s.ref) }

func (s refSource) Secret(ctx context.Context) (Value, error) {
	scheme, rest := s.ref.Scheme()
	switch scheme {
	case "env":
		get := s.rs.Getenv
		if get == nil {
			get = os.Getenv
		}
		v := get(rest)
		if v == "" {
			return Value{}, fmt.Errorf("secret %s: environment variable is empty or unset", s.ref)
		}
		return New(v), nil
	case "file":
		b, err := os.ReadFile(rest)
		if err != nil {
			return Value{}, fmt.Errorf("secret %s: %w", s.ref, errors.Unwrap(err))
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Value{}, fmt.Errorf("secret %s: file is empty", s.ref)
		}
		return New(v), nil
	case "vault":
		v, err := s.rs.Vault(ctx, rest)
		if err != nil {
			return Value{}, fmt.Errorf("secret %s: %w", s.ref, err)
		}
		return v, nil
	}
	return Value{}, ErrInlineSecret
}
