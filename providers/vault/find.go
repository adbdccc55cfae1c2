package vault

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Scope is one place the blast-radius search looks: a KV v2 mount and a
// folder in it ("" for the whole mount).
type Scope struct {
	Mount  string
	Prefix string
}

// Finder searches KV v2 mounts for other paths that hold a leaked secret. It
// reads each secret's current version and compares the keyed fingerprint of
// every string field with the leaked key's fingerprint: plaintext never leaves
// memory, and nothing is compared as text outside this process. Each hit's
// environment comes from its custom metadata (env, environment, stage) or its
// path ("apps/prod/billing" → prod); its owner from custom metadata "owner".
type Finder struct {
	Client      *Client
	Scopes      []Scope
	Fingerprint func(secret.Value) string
	// MaxSecrets bounds how many secrets one search reads; 5000 when zero.
	MaxSecrets int
	// Skip lists folders not to search (Firebreak's own intent records).
	Skip []Scope
}

// Find returns the blast radius of cred (Fingerprint must be set).
func (f *Finder) Find(ctx context.Context, cred providers.Credential) (exposure.Blast, error) {
	b := exposure.Blast{Searched: true}
	if cred.Fingerprint == "" || f.Fingerprint == nil {
		return b, permanent("find", "no fingerprint to search for")
	}
	limit := f.MaxSecrets
	if limit <= 0 {
		limit = 5000
	}
	for _, sc := range f.Scopes {
		mount := strings.Trim(sc.Mount, "/")
		queue := []string{strings.Trim(sc.Prefix, "/")}
		for len(queue) > 0 {
			if err := ctx.Err(); err != nil {
				return b, err
			}
			folder := queue[0]
			queue = queue[1:]
			keys, err := f.Client.KVList(ctx, mount, folder)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return b, err
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if folder != "" {
					p = folder + "/" + k
				}
				if strings.HasSuffix(k, "/") {
					if !f.skipped(mount, strings.TrimSuffix(p, "/")) {
						queue = append(queue, strings.TrimSuffix(p, "/"))
					}
					continue
				}
				if b.Scanned >= limit {
					b.Truncated = true
					b.Summarise()
					return b, nil
				}
				s, err := f.Client.KVRead(ctx, mount, p, 0)
				if errors.Is(err, ErrNotFound) {
					continue // deleted current version
				}
				if err != nil {
					return b, err
				}
				b.Scanned++
				fields := make([]string, 0, len(s.Data))
				for field := range s.Data {
					fields = append(fields, field)
				}
				sort.Strings(fields)
				for _, field := range fields {
					str, ok := s.Data[field].(string)
					if !ok || str == "" {
						continue
					}
					v := secret.New(str)
					match := f.Fingerprint(v) == cred.Fingerprint
					v.Wipe()
					if !match {
						continue
					}
					b.Hits = append(b.Hits, exposure.BlastHit{
						Store: "vault", Mount: mount, Path: p, Field: field, Version: s.Version,
						Environment: exposure.Environment(s.CustomMetadata, "", mount+"/"+p, ""),
						Owner:       s.CustomMetadata["owner"],
					})
				}
			}
		}
	}
	b.Summarise()
	return b, nil
}

func (f *Finder) skipped(mount, folder string) bool {
	for _, s := range f.Skip {
		if strings.Trim(s.Mount, "/") == mount && strings.Trim(s.Prefix, "/") == folder {
			return true
		}
	}
	return false
}
