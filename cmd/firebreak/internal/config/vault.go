package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func (c *Config) validateVault(httpURL func(path, u string, required bool)) Problems {
	var ps Problems
	bad := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	v := &c.Vault
	if v.Address == "" {
		if v.Transit.Key != "" || len(v.BlastRadius.Scopes) > 0 || v.Auth.Method != "" {
			bad("vault.address", "is required when vault is configured")
		}
		return ps
	}
	httpURL("vault.address", v.Address, true)
	authRef := func(path string, r secret.Ref, required bool) {
		if r.IsZero() {
			if required {
				bad(path, "is required (a secret reference: env:NAME or file:PATH)")
			}
			return
		}
		if err := r.Validate("env", "file"); err != nil {
			bad(path, "must be an env: or file: reference (Firebreak cannot read it from Vault before logging in to Vault)")
		}
	}
	a := &v.Auth
	switch a.Method {
	case "approle":
		authRef("vault.auth.role_id", a.RoleID, true)
		authRef("vault.auth.secret_id", a.SecretID, true)
	case "jwt", "kubernetes":
		if a.Role == "" {
			bad("vault.auth.role", "is required with %s auth", a.Method)
		}
		authRef("vault.auth.jwt", a.JWT, true)
	case "token":
		if !v.Dev {
			bad("vault.auth.method", "token (a static, typically root, token) is accepted only with vault.dev: true; use approle, jwt or kubernetes")
		}
		authRef("vault.auth.token", a.Token, true)
	case "":
		bad("vault.auth.method", "is required: approle, jwt or kubernetes (token in dev mode)")
	default:
		bad("vault.auth.method", "must be one of approle, jwt, kubernetes, token, got %q", a.Method)
	}
	if v.BlastRadius.OnReceive && len(v.BlastRadius.Scopes) == 0 {
		bad("vault.blast_radius.on_receive", "needs vault.blast_radius.scopes")
	}
	for i, s := range append(append([]VaultScope{}, v.BlastRadius.Scopes...), v.Rotation.Targets...) {
		if strings.Trim(s.Mount, "/") == "" {
			bad("vault", "scope %d (%q) has no mount", i, s.Prefix)
		}
	}
	if v.Rotation.VerifyAttempts < 0 {
		bad("vault.rotation.verify_attempts", "must not be negative")
	}
	return ps
}

// VaultRefs returns the API paths (before '#') of every vault: reference in
// the configuration, sorted: what Firebreak reads from Vault as its own
// credentials.
func (c *Config) VaultRefs() []string {
	seen := map[string]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		case reflect.String:
			if r, ok := v.Interface().(secret.Ref); ok {
				if scheme, rest := r.Scheme(); scheme == "vault" {
					p, _, _ := strings.Cut(rest, "#")
					seen[strings.Trim(p, "/")] = true
				}
			}
		}
	}
	walk(reflect.ValueOf(*c))
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
