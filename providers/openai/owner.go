package openai

import (
	"context"
	"fmt"
	"time"

	"github.com/firebreak-sec/firebreak/providers"
)

var _ providers.OwnerLookup = (*Client)(nil)

// Owner implements providers.OwnerLookup: the project key's owner as the
// Admin API reports it (owner.user's name and email, or the service
// account), found the way Revoke finds the key (by KeyID, or by matching
// redacted values across the organization). Facts carry
// owner_project_access ("inactive" when the owner has lost access to the
// project) and, for a key that expires, expires_at (RFC 3339, UTC). It needs
// the admin key.
func (c *Client) Owner(ctx context.Context, cred providers.Credential) (providers.Owner, error) {
	if cred.Secret.IsZero() {
		return providers.Owner{}, c.permanent(providers.OpOwner, "no key to look up")
	}
	if c.adminKey == nil {
		return providers.Owner{}, c.permanent(providers.OpOwner, "the owner of an OpenAI key needs an admin key")
	}
	ak, err := c.adminKey.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return providers.Owner{}, &providers.Error{Provider: Name, Op: providers.OpOwner, Class: class, Message: "cannot resolve the admin key", Err: err}
	}
	var cands []candidate
	if cred.KeyID != "" {
		cands, err = c.findByID(ctx, ak, cred)
	} else {
		cands, err = c.search(ctx, ak, cred.Secret)
	}
	if err != nil {
		return providers.Owner{}, err
	}
	if len(cands) != 1 {
		return providers.Owner{}, c.permanent(providers.OpOwner, fmt.Sprintf("%d project keys match the leaked key", len(cands)))
	}
	k := cands[0]
	facts := map[string]string{"project_id": k.project, "key_id": k.key.ID}
	if a := k.key.OwnerProjectAccess; a != "" {
		// "inactive": the owner no longer has access to the project, yet the
		// key still works — the person to ask may have left the team.
		facts["owner_project_access"] = a
	}
	if e := k.key.ExpiresAt; e != nil {
		facts["expires_at"] = time.Unix(*e, 0).UTC().Format(time.RFC3339)
	}
	switch {
	case k.key.Owner.User != nil:
		u := k.key.Owner.User
		facts["user_id"] = u.ID
		return providers.Owner{User: u.Name, Email: u.Email, Facts: facts}, nil
	case k.key.Owner.ServiceAccount != nil:
		facts["service_account_id"] = k.key.Owner.ServiceAccount.ID
		return providers.Owner{User: k.key.Owner.ServiceAccount.Name, Facts: facts}, nil
	}
	return providers.Owner{}, c.permanent(providers.OpOwner, "the key record names no owner")
}
