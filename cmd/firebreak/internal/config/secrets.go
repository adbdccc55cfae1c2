package config

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

var refType = reflect.TypeOf(secret.Ref(""))

// CheckSecrets reads every configured env: and file: secret reference once
// and discards what it read: an environment variable must be set and not
// empty, a file must exist, be readable and not be empty. It returns Problems
// naming each reference that cannot be read by its field path, and by its
// file:line:col (or environment variable) when c came from Load; never a
// secret's value. References left unset are not checked (a provider without
// credentials runs in dry-run; the webhook secret and the admin token are
// then generated). vault: references are not checked: they need a Vault
// login and are read at step time. getenv defaults to os.Getenv.
//
// It checks, it does not cache: every reference is still read at each use,
// so a rotated file secret takes effect without a restart.
func (c *Config) CheckSecrets(ctx context.Context, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	rs := secret.Resolvers{Getenv: getenv}
	var probs Problems
	for _, f := range secretRefs(reflect.ValueOf(*c), "") {
		if scheme, _ := f.ref.Scheme(); scheme != "env" && scheme != "file" {
			continue
		}
		src, err := rs.Source(f.ref)
		if err == nil {
			_, err = src.Secret(ctx) // the value is dropped at once
		}
		if err != nil {
			probs = append(probs, position(c.where, f.path).problem(f.path, err.Error()))
		}
	}
	if len(probs) > 0 {
		probs.sort()
		return probs
	}
	return nil
}

type refField struct {
	path string
	ref  secret.Ref
}

// secretRefs lists the set secret references under v (a configuration
// struct) with their field paths, map entries in key order, list entries as
// path[i].
func secretRefs(v reflect.Value, path string) []refField {
	var out []refField
	switch {
	case v.Type() == refType:
		if r := v.Interface().(secret.Ref); !r.IsZero() {
			out = append(out, refField{path, r})
		}
	case v.Kind() == reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			out = append(out, secretRefs(v.Field(i), join(path, name))...)
		}
	case v.Kind() == reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			out = append(out, secretRefs(v.MapIndex(k), join(path, k.String()))...)
		}
	case v.Kind() == reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			out = append(out, secretRefs(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case v.Kind() == reflect.Pointer && !v.IsNil():
		out = append(out, secretRefs(v.Elem(), path)...)
	}
	return out
}
