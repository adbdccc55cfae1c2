package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// appRole creates an AppRole role with the given policies and token TTLs and
// returns its role_id and a fresh secret_id.
func appRole(t *testing.T, v *vaulttest.Server, name string, policies []string, ttl, maxTTL string) (roleID, secretID string) {
	t.Helper()
	v.EnableAuth(t, "approle", "approle")
	v.Write(t, "auth/approle/role/"+name, map[string]any{"token_policies": policies, "token_ttl": ttl, "token_max_ttl": maxTTL})
	sec, err := v.Client(t).Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID = sec.Data["role_id"].(string)
	sid := v.Write(t, "auth/approle/role/"+name+"/secret-id", nil)
	return roleID, sid.Data["secret_id"].(string)
}

func appRoleClient(t *testing.T, v *vaulttest.Server, roleID, secretID string) *vault.Client {
	t.Helper()
	c, err := vault.New(vault.Config{Address: v.Addr, Auth: vault.Auth{Method: vault.AuthAppRole,
		RoleID: secret.Static(secret.New(roleID)), SecretID: secret.Static(secret.New(secretID))}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAppRoleRenewsAndReauthenticates: a short-TTL AppRole token is renewed
// while it can be, and replaced by a fresh login when it nears its maximum
// TTL or is revoked; reads keep working throughout.
func TestAppRoleRenewsAndReauthenticates(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	prefix := vaulttest.UniquePrefix(t.Name())
	v.Write(t, "secret/data/"+prefix+"/firebreak/openai", map[string]any{"data": map[string]any{"admin_key": "sk-admin-canary-value-0123456789"}})
	pol := "renew-" + prefix
	if err := v.Client(t).Sys().PutPolicy(pol, fmt.Sprintf("path \"secret/data/%s/firebreak/*\" { capabilities = [\"read\"] }", prefix)); err != nil {
		t.Fatal(err)
	}
	rid, sid := appRole(t, v, pol, []string{pol}, "2s", "5s")
	c := appRoleClient(t, v, rid, sid)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	ref := prefix + "/firebreak/openai#admin_key"
	ref = "secret/data/" + ref
	deadline := time.Now().Add(30 * time.Second)
	for c.Renewals() < 1 || c.Logins() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d renewals, %d logins; want a renewal and a re-login at max TTL", c.Renewals(), c.Logins())
		}
		if val, err := c.ReadRef(ctx, ref); err != nil || val.Reveal() != "sk-admin-canary-value-0123456789" {
			t.Fatalf("read while renewing: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done

	// A token revoked behind its back (403) is replaced by a fresh login.
	before := c.Logins()
	v.Write(t, "sys/leases/revoke-prefix/auth/approle/login", nil)
	if _, err := c.ReadRef(context.Background(), ref); err != nil {
		t.Fatalf("read after revocation: %v", err)
	}
	if c.Logins() != before+1 {
		t.Fatalf("logins %d → %d, want one re-login", before, c.Logins())
	}
}

// TestJWTAuth logs in with a JWT signed by a key Vault's jwt method trusts.
func TestJWTAuth(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	prefix := vaulttest.UniquePrefix(t.Name())
	mount := "jwt-" + prefix
	v.EnableAuth(t, mount, "jwt")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	v.Write(t, "auth/"+mount+"/config", map[string]any{"jwt_validation_pubkeys": []string{pub}})
	pol := "jwt-" + prefix
	if err := v.Client(t).Sys().PutPolicy(pol, fmt.Sprintf("path \"secret/data/%s/*\" { capabilities = [\"read\"] }", prefix)); err != nil {
		t.Fatal(err)
	}
	v.Write(t, "auth/"+mount+"/role/firebreak", map[string]any{"role_type": "jwt", "user_claim": "sub",
		"bound_audiences": []string{"firebreak"}, "token_policies": []string{pol}, "token_ttl": "1m"})
	v.Write(t, "secret/data/"+prefix+"/creds", map[string]any{"data": map[string]any{"token": "value-read-through-jwt"}})

	jwt := signES256(t, key, map[string]any{"sub": "system:serviceaccount:sec:firebreak", "aud": "firebreak",
		"iat": time.Now().Unix(), "nbf": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()})
	c, err := vault.New(vault.Config{Address: v.Addr, Auth: vault.Auth{Method: vault.AuthJWT, Mount: mount, Role: "firebreak",
		JWT: secret.Static(secret.New(jwt))}})
	if err != nil {
		t.Fatal(err)
	}
	val, err := c.ReadRef(ctxT(t), "secret/data/"+prefix+"/creds#token")
	if err != nil || val.Reveal() != "value-read-through-jwt" {
		t.Fatalf("read with a JWT login: %v", err)
	}

	// A JWT Vault does not trust is a clear permanent error.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bad := signES256(t, other, map[string]any{"sub": "x", "aud": "firebreak", "exp": time.Now().Add(time.Minute).Unix()})
	c2, _ := vault.New(vault.Config{Address: v.Addr, Auth: vault.Auth{Method: vault.AuthJWT, Mount: mount, Role: "firebreak", JWT: secret.Static(secret.New(bad))}})
	_, err = c2.ReadRef(ctxT(t), "secret/data/"+prefix+"/creds#token")
	if err == nil || !strings.Contains(err.Error(), "jwt login") {
		t.Fatalf("untrusted JWT: %v", err)
	}
	if strings.Contains(err.Error(), bad[:40]) {
		t.Fatal("the error carries the JWT")
	}
}

func signES256(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
