package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/firebreak-sec/firebreak/providers"
)

// KVSecret is one version of a KV v2 secret.
type KVSecret struct {
	Data           map[string]any
	Version        int
	CustomMetadata map[string]string
}

func kvPath(mount, kind, path string) string {
	return strings.Trim(mount, "/") + "/" + kind + "/" + strings.Trim(path, "/")
}

// KVRead reads a KV v2 secret: the current version when version is 0. It
// returns an error wrapping ErrNotFound when there is none (or it was deleted).
func (c *Client) KVRead(ctx context.Context, mount, path string, version int) (*KVSecret, error) {
	p := kvPath(mount, "data", path)
	var sec *api.Secret
	err := c.do(ctx, "read", "read "+p, func(cl *api.Client) error {
		var err error
		q := map[string][]string{}
		if version > 0 {
			q["version"] = []string{fmt.Sprint(version)}
		}
		sec, err = cl.Logical().ReadWithDataWithContext(ctx, p, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil || sec.Data["data"] == nil {
		return nil, &providers.Error{Provider: Name, Op: "read", Class: providers.Permanent, Status: 404, Message: "read " + p + ": no secret there", Err: ErrNotFound}
	}
	out := &KVSecret{Data: map[string]any{}, CustomMetadata: map[string]string{}}
	if d, ok := sec.Data["data"].(map[string]any); ok {
		out.Data = d
	}
	if md, ok := sec.Data["metadata"].(map[string]any); ok {
		out.Version = jsonInt(md["version"])
		if cm, ok := md["custom_metadata"].(map[string]any); ok {
			for k, v := range cm {
				if s, ok := v.(string); ok {
					out.CustomMetadata[k] = s
				}
			}
		}
	}
	return out, nil
}

func jsonInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

// KVWrite writes a new version with check-and-set: cas is the version the
// write is based on (0: the secret must not exist yet). It returns the new
// version, or an error wrapping ErrCASConflict when someone else wrote first.
func (c *Client) KVWrite(ctx context.Context, mount, path string, data map[string]any, cas int) (int, error) {
	p := kvPath(mount, "data", path)
	var sec *api.Secret
	err := c.do(ctx, "write", "write "+p, func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().WriteWithContext(ctx, p, map[string]any{"data": data, "options": map[string]any{"cas": cas}})
		return err
	})
	if err != nil {
		return 0, err
	}
	if sec == nil || sec.Data == nil {
		return 0, &providers.Error{Provider: Name, Op: "write", Class: providers.Retryable, Message: "write " + p + ": no version in the answer"}
	}
	return jsonInt(sec.Data["version"]), nil
}

// KVSetCustomMetadata writes a secret's custom metadata: cur (what the
// last read returned, so that keys like owner and env are kept) with set
// applied. It is a POST to .../metadata/... with only custom_metadata, which
// needs "update" on the metadata path and leaves max_versions and the other
// settings as they are.
func (c *Client) KVSetCustomMetadata(ctx context.Context, mount, path string, cur, set map[string]string) error {
	p := kvPath(mount, "metadata", path)
	merged := map[string]any{}
	for k, v := range cur {
		merged[k] = v
	}
	for k, v := range set {
		merged[k] = v
	}
	return c.do(ctx, "write", "write "+p, func(cl *api.Client) error {
		_, err := cl.Logical().WriteWithContext(ctx, p, map[string]any{"custom_metadata": merged})
		return err
	})
}

// KVDestroy deletes a secret's metadata and every version (DELETE
// .../metadata/...). A secret that is not there is no error.
func (c *Client) KVDestroy(ctx context.Context, mount, path string) error {
	p := kvPath(mount, "metadata", path)
	return c.do(ctx, "delete", "delete "+p, func(cl *api.Client) error {
		_, err := cl.Logical().DeleteWithContext(ctx, p)
		return err
	})
}

// KVList lists the keys under a folder of a KV v2 mount ("" is the mount's
// root); folder keys end in "/".
func (c *Client) KVList(ctx context.Context, mount, folder string) ([]string, error) {
	p := strings.Trim(mount, "/") + "/metadata/" + strings.Trim(folder, "/")
	var sec *api.Secret
	err := c.do(ctx, "list", "list "+p, func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().ListWithContext(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil {
		return nil, nil
	}
	raw, _ := sec.Data["keys"].([]any)
	out := make([]string, 0, len(raw))
	for _, k := range raw {
		if s, ok := k.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Capabilities returns the token's capabilities on API paths
// (sys/capabilities-self, which Vault's default policy allows).
func (c *Client) Capabilities(ctx context.Context, paths ...string) (map[string][]string, error) {
	var sec *api.Secret
	err := c.do(ctx, "read", "sys/capabilities-self", func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().WriteWithContext(ctx, "sys/capabilities-self", map[string]any{"paths": paths})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range paths {
		if sec == nil {
			break
		}
		raw, _ := sec.Data[p].([]any)
		for _, c := range raw {
			if s, ok := c.(string); ok {
				out[p] = append(out[p], s)
			}
		}
	}
	return out, nil
}

// RevokeLease revokes one lease (sys/leases/revoke) or, with prefix, every
// lease under a prefix (sys/leases/revoke-prefix/<prefix>, which needs sudo).
func (c *Client) RevokeLease(ctx context.Context, leaseID string, prefix bool) error {
	leaseID = strings.Trim(leaseID, "/")
	if leaseID == "" {
		return permanent("revoke_lease", "no lease id or prefix given")
	}
	if prefix {
		p := "sys/leases/revoke-prefix/" + escapePath(leaseID)
		return c.do(ctx, "revoke_lease", "revoke-prefix "+leaseID, func(cl *api.Client) error {
			_, err := cl.Logical().WriteWithContext(ctx, p, nil)
			return err
		})
	}
	return c.do(ctx, "revoke_lease", "revoke lease "+leaseID, func(cl *api.Client) error {
		_, err := cl.Logical().WriteWithContext(ctx, "sys/leases/revoke", map[string]any{"lease_id": leaseID})
		return err
	})
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
