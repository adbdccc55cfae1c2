package vault_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/providers/vault"
	"github.com/firebreak-sec/firebreak/providers/vault/vaulttest"
)

// TestFindBlastRadius: the same key under a prod path and a dev path is found
// by fingerprint, each hit with its environment and owner, and counts as reuse
// across environments; a different key elsewhere is not a hit.
func TestFindBlastRadius(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	kr := keyring(t)
	p := vaulttest.UniquePrefix(t.Name())
	const leaked = "sk-proj-leaked-in-two-places-abcdefghijklmnopqrstuvwxyz012345"
	v.Write(t, "secret/data/"+p+"/apps/prod/billing/openai", map[string]any{"data": map[string]any{"api_key": leaked, "org": "org-1"}})
	v.Write(t, "secret/metadata/"+p+"/apps/prod/billing/openai", map[string]any{"custom_metadata": map[string]any{"owner": "team-billing"}})
	v.Write(t, "secret/data/"+p+"/sandbox/billing", map[string]any{"data": map[string]any{"OPENAI_KEY": leaked}})
	v.Write(t, "secret/metadata/"+p+"/sandbox/billing", map[string]any{"custom_metadata": map[string]any{"env": "dev", "owner": "alice"}})
	v.Write(t, "secret/data/"+p+"/apps/staging/search/openai", map[string]any{"data": map[string]any{"api_key": "sk-proj-another-key-entirely-000000000000000000000"}})

	f := &vault.Finder{Client: rootClient(t, v), Scopes: []vault.Scope{{Mount: "secret", Prefix: p}}, Fingerprint: kr.Fingerprint}
	lv := secret.New(leaked)
	b, err := f.Find(ctxT(t), providers.Credential{Secret: lv, Fingerprint: kr.Fingerprint(lv)})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Hits) != 2 || b.Scanned != 3 {
		t.Fatalf("hits %+v scanned %d; want 2 hits of 3 secrets", b.Hits, b.Scanned)
	}
	got := map[string]exposure.BlastHit{}
	for _, h := range b.Hits {
		got[h.Path] = h
	}
	prod, dev := got[p+"/apps/prod/billing/openai"], got[p+"/sandbox/billing"]
	if prod.Environment != "prod" || prod.Field != "api_key" || prod.Owner != "team-billing" {
		t.Fatalf("prod hit = %+v", prod)
	}
	if dev.Environment != "dev" || dev.Field != "OPENAI_KEY" || dev.Owner != "alice" {
		t.Fatalf("dev hit = %+v", dev)
	}
	if !b.ReusedAcrossEnvs || !slices.Equal(b.Environments, []string{"dev", "prod"}) {
		t.Fatalf("blast = %+v, want reuse across dev and prod", b)
	}
	js, _ := json.Marshal(b)
	providertest.AssertNoSecret(t, leaked, string(js))

	// Only one place: no reuse.
	f.Scopes = []vault.Scope{{Mount: "secret", Prefix: p + "/apps"}}
	b, err = f.Find(ctxT(t), providers.Credential{Secret: lv, Fingerprint: kr.Fingerprint(lv)})
	if err != nil || len(b.Hits) != 1 || b.ReusedAcrossEnvs {
		t.Fatalf("apps only: %+v, %v", b, err)
	}
}

func transitKey(t *testing.T, v *vaulttest.Server) string {
	t.Helper()
	v.Mount(t, "transit", "transit", nil)
	name := vaulttest.UniquePrefix("fb")
	v.Write(t, "transit/keys/"+name, map[string]any{"type": "aes256-gcm96"})
	return name
}

func TestTransitRoundTrip(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	tr := &vault.Transit{Client: rootClient(t, v), Key: transitKey(t, v)}
	const raw = "sk-proj-transit-canary-0123456789abcdefghijklmnopqrstuvwxyz"
	ctx := ctxT(t)
	sealed, err := tr.Seal(ctx, secret.New(raw), []byte("fp-1"))
	if err != nil {
		t.Fatal(err)
	}
	providertest.AssertNoSecret(t, raw, sealed)
	got, err := tr.Open(ctx, sealed, []byte("fp-1"))
	if err != nil || got.Reveal() != raw {
		t.Fatalf("open: %v", err)
	}
	if _, err := tr.Open(ctx, sealed, []byte("fp-2")); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("open with another aad: %v, want ErrOpen", err)
	}
	// The local keyring does not hold the key; the chain opens both kinds.
	kr := keyring(t)
	if _, err := kr.Open(ctx, sealed, []byte("fp-1")); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("local keyring opened a transit blob: %v", err)
	}
	chain := vault.Keyrings{tr, kr}
	local, _ := kr.Seal(ctx, secret.New(raw), []byte("fp-1"))
	for _, s := range []string{sealed, local} {
		if v, err := chain.Open(ctx, s, []byte("fp-1")); err != nil || v.Reveal() != raw {
			t.Fatalf("chain open: %v", err)
		}
	}
}

// TestTransitSealedExposureOnTheBus: an exposure sealed through Transit goes
// through JetStream; a consumer with only the local keyring cannot open it,
// one with the transit keyring can.
func TestTransitSealedExposureOnTheBus(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	b := bustest.Run(t)
	tr := &vault.Transit{Client: rootClient(t, v), Key: transitKey(t, v)}
	kr := keyring(t)
	ctx := ctxT(t)
	const raw = "sk-proj-bus-canary-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
	rv := secret.New(raw)
	fp := kr.Fingerprint(rv)
	sealed, err := tr.Seal(ctx, rv, []byte(fp))
	if err != nil {
		t.Fatal(err)
	}
	ev := &exposure.Event{ID: exposure.NewID(time.Now()), Schema: exposure.Schema,
		Source: exposure.Source{Kind: exposure.SourceLogs}, Environment: exposure.EnvProd,
		Secret:     exposure.Secret{Provider: "openai", Type: "openai_api_key", Fingerprint: fp, Sealed: sealed, Redacted: secret.Hint(rv)},
		ReceivedAt: time.Now()}
	pub := &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries, Timeout: 5 * time.Second}
	if _, err := pub.Publish(ctx, ev, ev.ID); err != nil {
		t.Fatal(err)
	}
	msgs := b.Messages(t, exposure.StreamExposures)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the stream", len(msgs))
	}
	providertest.AssertNoSecret(t, raw, string(msgs[0].Data))
	got, err := exposure.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(ctx, got.Secret.Sealed, []byte(got.Secret.Fingerprint)); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("the local keyring opened it: %v", err)
	}
	opened, err := tr.Open(ctx, got.Secret.Sealed, []byte(got.Secret.Fingerprint))
	if err != nil || !opened.Equal(rv) || kr.Fingerprint(opened) != got.Secret.Fingerprint {
		t.Fatalf("the transit keyring could not open it: %v", err)
	}
}

// TestRevokeLease revokes one lease and a prefix of leases issued by a real
// secrets engine (PKI with generate_lease, which needs nothing outside Vault).
func TestRevokeLease(t *testing.T) {
	t.Parallel()
	v := vaulttest.Shared(t)
	mount := pkiMount(t, v)
	c := rootClient(t, v)
	ctx := ctxT(t)
	one, two := issueLease(t, v, mount), issueLease(t, v, mount)
	if err := c.RevokeLease(ctx, one, false); err != nil {
		t.Fatal(err)
	}
	if leaseLive(t, v, one) || !leaseLive(t, v, two) {
		t.Fatal("revoking one lease must revoke exactly that lease")
	}
	if err := c.RevokeLease(ctx, mount+"/issue/fb", true); err != nil {
		t.Fatal(err)
	}
	if leaseLive(t, v, two) {
		t.Fatal("revoke-prefix left a lease")
	}
}

func pkiMount(t *testing.T, v *vaulttest.Server) string {
	t.Helper()
	mount := "pki-" + vaulttest.UniquePrefix("t")
	v.Mount(t, mount, "pki", nil)
	v.Write(t, "sys/mounts/"+mount+"/tune", map[string]any{"max_lease_ttl": "1h"})
	v.Write(t, mount+"/root/generate/internal", map[string]any{"common_name": "firebreak.test", "ttl": "1h"})
	v.Write(t, mount+"/roles/fb", map[string]any{"allow_any_name": true, "generate_lease": true, "ttl": "10m"})
	return mount
}

func issueLease(t *testing.T, v *vaulttest.Server, mount string) string {
	t.Helper()
	sec := v.Write(t, mount+"/issue/fb", map[string]any{"common_name": "svc.firebreak.test"})
	if sec.LeaseID == "" {
		t.Fatal("no lease issued")
	}
	return sec.LeaseID
}

func leaseLive(t *testing.T, v *vaulttest.Server, id string) bool {
	t.Helper()
	_, err := v.Client(t).Logical().Write("sys/leases/lookup", map[string]any{"lease_id": id})
	return err == nil
}
