package openai_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/openai"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// TestCreateFindDelete: Create makes a service-account key in the project of
// the key it replaces; FindCreated finds it by name without its secret;
// DeleteCreated deletes it (twice is no error); Revoke understands its KeyID.
func TestCreateFindDelete(t *testing.T) {
	e := openaiemu.New()
	e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	_ = e.AddProject("other")
	p := e.AddProject("billing")
	old, _ := e.AddKey(p, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "billing"})
	c := openai.New(openai.Config{BaseURL: e.URL(), AdminKey: secret.Static(secret.New(admin))})
	ctx := context.Background()
	ov := secret.New(old)
	req := providers.CreateRequest{Old: providers.Credential{Provider: "openai", Secret: ov}, Name: "firebreak-rot-test-1"}
	created, err := c.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	nv := created.Credential.Secret
	if created.Facts["project_id"] != p || !strings.HasPrefix(created.Credential.KeyID, p+"/key_") || !e.Live(nv.Reveal()) {
		t.Fatalf("created %+v", created.Facts)
	}
	if v, err := c.Verify(ctx, created.Credential); err != nil || !v.Live {
		t.Fatalf("verify new key: %v %v", v, err)
	}
	found, err := c.FindCreated(ctx, req)
	if err != nil || len(found) != 1 || found[0].Facts["service_account_id"] != created.Facts["service_account_id"] || !found[0].Credential.Secret.IsZero() {
		t.Fatalf("find: %v %+v", err, found)
	}
	if err := c.DeleteCreated(ctx, found[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCreated(ctx, found[0]); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if e.Live(nv.Reveal()) {
		t.Fatal("still live after DeleteCreated")
	}
	providertest.AssertNoSecret(t, nv.Reveal(), created.Credential.Hint, created.Credential.KeyID)

	// Without an admin key Create says what is missing.
	_, err = openai.New(openai.Config{BaseURL: e.URL()}).Create(ctx, req)
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent || !strings.Contains(err.Error(), "admin key") {
		t.Fatalf("no admin key: %v", err)
	}
}
