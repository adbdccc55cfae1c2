package vault

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// TransitScheme prefixes secrets sealed through Vault Transit:
// "transit:<key>:vault:v1:…".
const TransitScheme = "transit"

// Transit is a secret.Sealer that seals with Vault's Transit engine:
// transit/encrypt/<key> and transit/decrypt/<key>, with the aad passed as
// Transit's associated_data (authenticated by its AES-GCM keys), so a sealed
// blob opens only with the fingerprint it was sealed for. The data key never
// leaves Vault; a deployment can rotate it (transit/keys/<key>/rotate) and
// old blobs keep opening.
type Transit struct {
	Client *Client
	Mount  string // "transit" when empty
	Key    string // the Transit key name, e.g. "firebreak"
}

var _ secret.Sealer = (*Transit)(nil)

func (t *Transit) mount() string {
	if t.Mount == "" {
		return "transit"
	}
	return strings.Trim(t.Mount, "/")
}

// Seal implements secret.Sealer.
func (t *Transit) Seal(ctx context.Context, v secret.Value, aad []byte) (string, error) {
	p := t.mount() + "/encrypt/" + t.Key
	var sec *api.Secret
	err := t.Client.do(ctx, "seal", "encrypt with "+p, func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().WriteWithContext(ctx, p, map[string]any{
			"plaintext":       base64.StdEncoding.EncodeToString(v.Bytes()),
			"associated_data": base64.StdEncoding.EncodeToString(aad),
		})
		return err
	})
	if err != nil {
		return "", err
	}
	ct, _ := sec.Data["ciphertext"].(string)
	if !strings.HasPrefix(ct, "vault:") {
		return "", permanent("seal", "encrypt with %s: no ciphertext in the answer", p)
	}
	return TransitScheme + ":" + t.Key + ":" + ct, nil
}

// Open implements secret.Sealer. A blob sealed by another scheme or another
// Transit key is secret.ErrUnknownKey; a blob Transit refuses to decrypt
// (tampered, wrong aad) is secret.ErrOpen.
func (t *Transit) Open(ctx context.Context, sealed string, aad []byte) (secret.Value, error) {
	scheme, rest, ok := strings.Cut(sealed, ":")
	if !ok || scheme != TransitScheme {
		return secret.Value{}, fmt.Errorf("%w: not a %q sealed secret", secret.ErrUnknownKey, TransitScheme)
	}
	key, ct, ok := strings.Cut(rest, ":")
	if !ok || !strings.HasPrefix(ct, "vault:") {
		return secret.Value{}, secret.ErrMalformed
	}
	if key != t.Key {
		return secret.Value{}, fmt.Errorf("%w: transit key %q", secret.ErrUnknownKey, key)
	}
	p := t.mount() + "/decrypt/" + t.Key
	var sec *api.Secret
	err := t.Client.do(ctx, "open", "decrypt with "+p, func(cl *api.Client) error {
		var err error
		sec, err = cl.Logical().WriteWithContext(ctx, p, map[string]any{
			"ciphertext":      ct,
			"associated_data": base64.StdEncoding.EncodeToString(aad),
		})
		return err
	})
	if err != nil {
		if re := classifyStatus(err); re == 400 {
			return secret.Value{}, fmt.Errorf("%w: %v", secret.ErrOpen, err)
		}
		return secret.Value{}, err
	}
	b64, _ := sec.Data["plaintext"].(string)
	pt, derr := base64.StdEncoding.DecodeString(b64)
	if derr != nil {
		return secret.Value{}, secret.ErrMalformed
	}
	v := secret.FromBytes(pt)
	for i := range pt {
		pt[i] = 0
	}
	return v, nil
}

// Keyrings is a secret.Sealer over several: it seals with the first and
// opens with whichever understands the sealed form's scheme, so a deployment
// moving from the local keyring to Transit still opens exposures sealed
// before the move.
type Keyrings []secret.Sealer

// Seal implements secret.Sealer with the first sealer.
func (ks Keyrings) Seal(ctx context.Context, v secret.Value, aad []byte) (string, error) {
	return ks[0].Seal(ctx, v, aad)
}

// Open implements secret.Sealer: the first sealer that does not answer
// ErrUnknownKey decides.
func (ks Keyrings) Open(ctx context.Context, sealed string, aad []byte) (secret.Value, error) {
	var last error = secret.ErrUnknownKey
	for _, k := range ks {
		v, err := k.Open(ctx, sealed, aad)
		if err == nil {
			return v, nil
		}
		if !isUnknownKey(err) {
			return secret.Value{}, err
		}
		last = err
	}
	return secret.Value{}, last
}
