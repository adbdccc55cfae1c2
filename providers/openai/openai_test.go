package openai_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/openai"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// org is an emulated organization with an admin key and a client for it.
type org struct {
	emu      *openaiemu.Emulator
	client   *openai.Client
	adminRaw string
	log      *providertest.SyncBuffer
}

func newOrg(t *testing.T, pageSize int, opts ...openaiemu.Option) *org {
	t.Helper()
	emu := openaiemu.New(opts...)
	base := emu.Start()
	t.Cleanup(emu.Close)
	adminRaw, _ := emu.AddAdminKey("firebreak")
	log, buf := providertest.NewLogger()
	c := openai.New(openai.Config{BaseURL: base, AdminKey: secret.Static(secret.New(adminRaw)), PageSize: pageSize, Logger: log})
	return &org{emu: emu, client: c, adminRaw: adminRaw, log: buf}
}

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: openai.Name, Type: openai.TypeAPIKey, Secret: v, Hint: secret.Hint(v)}
}

// requests returns the recorded requests matching method and path prefix.
func requests(s *emulator.Server, method, prefix string) []emulator.Request {
	var out []emulator.Request
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func TestRevokeFindsKeyAcrossPages(t *testing.T) {
	o := newOrg(t, 2)
	var projects []string
	for i := range 5 {
		projects = append(projects, o.emu.AddProject("p"+string(rune('a'+i))))
	}
	// Three keys in every project, so both projects and keys span pages.
	var target, targetID string
	var others []string
	for i, p := range projects {
		for j := range 3 {
			raw, id := o.emu.AddKey(p, openaiemu.Owner{Name: "dev"})
			if i == 3 && j == 2 {
				target, targetID = raw, id
				continue
			}
			others = append(others, id)
		}
	}
	res, err := o.client.Revoke(context.Background(), cred(target))
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if res.AlreadyRevoked || res.Action != "deleted" || res.KeyID != targetID || res.Facts["project_id"] != projects[3] {
		t.Fatalf("Revoke = %+v; want key %s of %s deleted", res, targetID, projects[3])
	}
	dels := requests(o.emu.Server(), http.MethodDelete, "/v1/organization/")
	want := "/v1/organization/projects/" + projects[3] + "/api_keys/" + targetID
	if len(dels) != 1 || dels[0].Path != want {
		var paths []string // not the requests themselves: they carry the admin key
		for _, d := range dels {
			paths = append(paths, d.Path)
		}
		t.Fatalf("DELETE requests %v; want exactly %s", paths, want)
	}
	if got := dels[0].Header.Get("Authorization"); got != "Bearer "+o.adminRaw {
		t.Fatalf("DELETE not authenticated with the admin key")
	}
	if o.emu.KeyExists(targetID) || o.emu.Live(target) {
		t.Fatal("target key still exists")
	}
	for _, id := range others {
		if !o.emu.KeyExists(id) {
			t.Fatalf("key %s was deleted too", id)
		}
	}
	// Pagination really happened: the projects list was followed with after=.
	var sawAfter bool
	for _, r := range requests(o.emu.Server(), http.MethodGet, "/v1/organization/projects") {
		q, _ := url.ParseQuery(r.Query)
		if q.Get("limit") != "2" {
			t.Fatalf("list without limit=2: %s?%s", r.Path, r.Query)
		}
		if r.Path == "/v1/organization/projects" && q.Get("after") != "" {
			sawAfter = true
		}
	}
	if !sawAfter {
		t.Fatal("projects were never paged with after=")
	}
	if d := o.emu.Deletions(); len(d) != 1 || d[0].ID != targetID {
		t.Fatalf("emulator deletions %+v", d)
	}
	providertest.AssertNoSecret(t, target, o.log.String(), res.Detail)
}

// A key whose owner lost access to its project is still enabled, and the
// listing's default view may hide it: Revoke must find and delete it rather
// than report it already gone, paging through every project's keys.
func TestRevokeKeyWhoseOwnerLostProjectAccess(t *testing.T) {
	o := newOrg(t, 2)
	p := o.emu.AddProject("app")
	var target, targetID string
	for i := range 5 {
		raw, id := o.emu.AddKey(p, openaiemu.Owner{Name: "dev"})
		if i == 3 {
			target, targetID = raw, id
		}
	}
	o.emu.SetOwnerAccess(targetID, false) // e.g. the user was removed from the project
	res, err := o.client.Revoke(context.Background(), cred(target))
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if res.AlreadyRevoked || res.Action != "deleted" || res.KeyID != targetID || res.Facts["owner_project_access"] != "inactive" {
		t.Fatalf("Revoke = %+v; want key %s deleted, its owner noted inactive", res, targetID)
	}
	if o.emu.KeyExists(targetID) || o.emu.Live(target) {
		t.Fatal("the key whose owner lost project access still works")
	}
	// Every page of the key listing asked for every enabled key, and the
	// listing was paged.
	lists := requests(o.emu.Server(), http.MethodGet, "/v1/organization/projects/"+p+"/api_keys")
	var sawAfter bool
	for _, r := range lists {
		q, _ := url.ParseQuery(r.Query)
		if q.Get("owner_project_access") != "any" || q.Get("limit") != "2" {
			t.Fatalf("key listing without owner_project_access=any and limit=2: %s?%s", r.Path, r.Query)
		}
		sawAfter = sawAfter || q.Get("after") != ""
	}
	if len(lists) < 2 || !sawAfter {
		t.Fatalf("the key listing was not paged (%d requests)", len(lists))
	}
	providertest.AssertNoSecret(t, target, o.log.String(), res.Detail)
}

func TestRevokeServiceAccountKeyDeletesServiceAccount(t *testing.T) {
	o := newOrg(t, 0)
	p := o.emu.AddProject("backend")
	raw, keyID := o.emu.AddKey(p, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount, Name: "ci-bot"})
	if !strings.HasPrefix(raw, "sk-svcacct-") {
		t.Fatalf("service-account key has the wrong format: %s", secret.Hint(secret.New(raw)))
	}
	res, err := o.client.Revoke(context.Background(), cred(raw))
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	saID := res.Facts["service_account_id"]
	if saID == "" || res.KeyID != keyID {
		t.Fatalf("Revoke = %+v", res)
	}
	if n := len(requests(o.emu.Server(), http.MethodDelete, "/v1/organization/projects/"+p+"/api_keys/")); n != 0 {
		t.Fatalf("tried DELETE api_keys on a service account's key %d times", n)
	}
	if d := o.emu.Deletions(); len(d) != 1 || d[0].Kind != "service_account" || d[0].ID != saID || d[0].KeyIDs[0] != keyID {
		t.Fatalf("deletions %+v", d)
	}
	if o.emu.Live(raw) {
		t.Fatal("key still live")
	}
}

func TestRevokeAmbiguousMatchDeletesNothing(t *testing.T) {
	o := newOrg(t, 0)
	p1, p2 := o.emu.AddProject("one"), o.emu.AddProject("two")
	// Two keys that share the redacted form sk-proj-...WXYZ.
	a := openaiemu.NewKeyValue("sk-proj-")
	a = a[:len(a)-4] + "WXYZ"
	b := openaiemu.NewKeyValue("sk-proj-")
	b = b[:len(b)-4] + "WXYZ"
	idA := o.emu.AddKeyValue(p1, a, openaiemu.Owner{})
	idB := o.emu.AddKeyValue(p2, b, openaiemu.Owner{})
	_, err := o.client.Revoke(context.Background(), cred(a))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Permanent || !strings.Contains(pe.Message, "2 project keys match") {
		t.Fatalf("Revoke(ambiguous) = %v; want a permanent error naming the ambiguity", err)
	}
	if !strings.Contains(pe.Message, idA) || !strings.Contains(pe.Message, idB) {
		t.Fatalf("error does not name the candidates: %v", err)
	}
	if n := len(requests(o.emu.Server(), http.MethodDelete, "/")); n != 0 || len(o.emu.Deletions()) != 0 {
		t.Fatalf("%d DELETE requests after an ambiguous match", n)
	}
	providertest.AssertNoSecret(t, a, err.Error(), o.log.String())
	providertest.AssertNoSecret(t, b, err.Error(), o.log.String())

	// Naming the key id resolves the ambiguity, and only that key goes.
	c := cred(a)
	c.KeyID = idA
	res, err := o.client.Revoke(context.Background(), c)
	if err != nil || res.KeyID != idA {
		t.Fatalf("Revoke with KeyID = %+v, %v", res, err)
	}
	if o.emu.KeyExists(idA) || !o.emu.KeyExists(idB) {
		t.Fatal("wrong key deleted")
	}
}

func TestRevokeWithKeyIDChecksTheKey(t *testing.T) {
	o := newOrg(t, 0)
	p := o.emu.AddProject("app")
	raw, id := o.emu.AddKey(p, openaiemu.Owner{})
	_, otherID := o.emu.AddKey(p, openaiemu.Owner{})

	// A key id that belongs to another key is refused.
	c := cred(raw)
	c.KeyID = p + "/" + otherID
	_, err := o.client.Revoke(context.Background(), c)
	if class, _ := providers.Classify(err); err == nil || class != providers.Permanent {
		t.Fatalf("Revoke with a mismatching key id = %v; want permanent", err)
	}
	if !o.emu.KeyExists(otherID) {
		t.Fatal("deleted a key that does not match the leaked one")
	}

	// The right id, with its project, goes straight to GET + DELETE.
	o.emu.Server().Reset()
	c.KeyID = p + "/" + id
	res, err := o.client.Revoke(context.Background(), c)
	if err != nil || res.KeyID != id {
		t.Fatalf("Revoke = %+v, %v", res, err)
	}
	if n := len(o.emu.Server().Requests()); n != 2 {
		t.Fatalf("revoke by project/key id made %d requests, want 2", n)
	}
}

func TestRevokeAdminKeyRejectedIsPermanent(t *testing.T) {
	emu := openaiemu.New()
	base := emu.Start()
	t.Cleanup(emu.Close)
	p := emu.AddProject("app")
	raw, _ := emu.AddKey(p, openaiemu.Owner{})
	// A project key is not an admin key: the admin API answers 401.
	notAdmin, _ := emu.AddKey(p, openaiemu.Owner{})
	for name, ak := range map[string]string{"unknown": openaiemu.NewKeyValue("sk-admin-"), "project key": notAdmin} {
		t.Run(name, func(t *testing.T) {
			c := openai.New(openai.Config{BaseURL: base, AdminKey: secret.Static(secret.New(ak))})
			_, err := c.Revoke(context.Background(), cred(raw))
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Status != 401 || !strings.Contains(pe.Message, "admin key was refused") {
				t.Fatalf("Revoke with a bad admin key = %v; want permanent 401", err)
			}
			providertest.AssertNoSecret(t, ak, err.Error())
			providertest.AssertNoSecret(t, raw, err.Error())
		})
	}
	if !emu.Live(raw) {
		t.Fatal("key revoked without a valid admin key")
	}
}

func TestRevokeWithoutAdminKey(t *testing.T) {
	c := openai.New(openai.Config{BaseURL: "http://127.0.0.1:1"})
	_, err := c.Revoke(context.Background(), cred(openaiemu.NewKeyValue("sk-proj-")))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Permanent || !strings.Contains(pe.Message, "requires an admin key") {
		t.Fatalf("Revoke without admin key = %v", err)
	}
	plan := c.Plan(providers.OpRevoke, cred(openaiemu.NewKeyValue("sk-proj-")))
	if len(plan) != 1 || !strings.Contains(plan[0].Note, "admin key") {
		t.Fatalf("plan without admin key: %+v", plan)
	}
	// The admin key source failing is classified, not swallowed.
	c = openai.New(openai.Config{BaseURL: "http://127.0.0.1:1", AdminKey: secret.Env("FIREBREAK_TEST_UNSET_ADMIN_KEY")})
	_, err = c.Revoke(context.Background(), cred(openaiemu.NewKeyValue("sk-proj-")))
	if !errors.Is(err, secret.ErrNoSecret) {
		t.Fatalf("Revoke with an empty admin key source = %v", err)
	}
}

func TestRateLimit429(t *testing.T) {
	o := newOrg(t, 0, openaiemu.WithRateLimit(2, time.Minute))
	p := o.emu.AddProject("app")
	raw, _ := o.emu.AddKey(p, openaiemu.Owner{})
	ctx := context.Background()
	for range 2 {
		if res, err := o.client.Verify(ctx, cred(raw)); err != nil || !res.Live {
			t.Fatalf("Verify = %+v, %v", res, err)
		}
	}
	_, err := o.client.Verify(ctx, cred(raw))
	class, after := providers.Classify(err)
	var pe *providers.Error
	if class != providers.Retryable || after <= 0 || after > time.Minute+time.Second || !errors.As(err, &pe) || !strings.Contains(pe.Message, "rate_limit_exceeded") {
		t.Fatalf("third Verify = %v (class %v, after %v); want retryable rate_limit_exceeded with Retry-After", err, class, after)
	}
	providertest.AssertNoSecret(t, raw, err.Error())
}

func TestVerifyFacts(t *testing.T) {
	o := newOrg(t, 0, openaiemu.WithOrg("org-EMU123", "Acme"))
	p := o.emu.AddProject("app")
	raw, _ := o.emu.AddKey(p, openaiemu.Owner{Name: "Ada"})
	res, err := o.client.Verify(context.Background(), cred(raw))
	if err != nil || !res.Live || res.Facts["org_id"] != "org-EMU123" || res.Facts["org_name"] != "Acme" || !strings.HasPrefix(res.Facts["user_id"], "user-") {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	req := requests(o.emu.Server(), http.MethodGet, "/v1/me")
	if len(req) != 1 || req[0].Header.Get("Authorization") != "Bearer "+raw {
		t.Fatal("verify did not call GET /v1/me with the leaked key as bearer")
	}

	// A restricted key gets 401 "Missing scopes": it is live.
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/me", Count: 1, Status: 401,
		Body: `{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.model.read.","type":"invalid_request_error","param":null,"code":null}}`})
	res, err = o.client.Verify(context.Background(), cred(raw))
	if err != nil || !res.Live || res.Facts["restricted"] != "true" {
		t.Fatalf("Verify(restricted) = %+v, %v", res, err)
	}
	// insufficient_quota is about the org's credit, not the key.
	o.emu.Server().Inject(emulator.Fault{Match: "GET /v1/me", Count: 1, Status: 429,
		Body: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`})
	res, err = o.client.Verify(context.Background(), cred(raw))
	if err != nil || !res.Live {
		t.Fatalf("Verify(insufficient_quota) = %+v, %v", res, err)
	}
}

func TestAdminKeyLeak(t *testing.T) {
	o := newOrg(t, 1)
	leaked, leakedID := o.emu.AddAdminKey("old automation")
	c := cred(leaked)
	c.Type = openai.TypeAdminKey
	if res, err := o.client.Verify(context.Background(), c); err != nil || !res.Live {
		t.Fatalf("Verify(admin key) = %+v, %v", res, err)
	}
	res, err := o.client.Revoke(context.Background(), c)
	if err != nil || res.KeyID != leakedID {
		t.Fatalf("Revoke(admin key) = %+v, %v", res, err)
	}
	if o.emu.KeyExists(leakedID) || !o.emu.Live(o.adminRaw) {
		t.Fatal("wrong admin key state after revoke")
	}
}

func TestMatchRedacted(t *testing.T) {
	key := secret.New("sk-proj-abcDEF123" + openaiemu.Marker + "xyz789")
	for _, tc := range []struct {
		redacted string
		want     bool
	}{
		{"sk-proj-...z789", true},
		{"sk-proj-…z789", true},
		{"sk-proj-abc...789", true},
		{"sk-proj-****************z789", true},
		{"sk-...z789", true},
		{"sk-proj-...z788", false},
		{"sk-svcacct-...z789", false},
		{"sk-...", false},   // nothing to match on
		{"sk-...89", false}, // too little to match on
		{"", false},
		{"sk-proj-abcDEF123" + openaiemu.Marker + "xyz789", true}, // unmasked: identical only
	} {
		if got := openai.MatchRedacted(tc.redacted, key); got != tc.want {
			t.Errorf("MatchRedacted(%q) = %v, want %v", tc.redacted, got, tc.want)
		}
	}
}

// TestEmulatorRedactionFormats runs revocation against other plausible
// redacted_value formats, so the client does not depend on the emulator's.
func TestEmulatorRedactionFormats(t *testing.T) {
	for name, f := range map[string]func(string) string{
		"reference-example": func(raw string) string { return raw[:6] + "..." + raw[len(raw)-3:] }, // "sk-abc...def"
		"stars":             func(raw string) string { return raw[:8] + strings.Repeat("*", 20) + raw[len(raw)-4:] },
	} {
		t.Run(name, func(t *testing.T) {
			o := newOrg(t, 0, openaiemu.WithRedactor(f))
			p := o.emu.AddProject("app")
			raw, id := o.emu.AddKey(p, openaiemu.Owner{})
			o.emu.AddKey(p, openaiemu.Owner{})
			res, err := o.client.Revoke(context.Background(), cred(raw))
			if err != nil || res.KeyID != id {
				t.Fatalf("Revoke = %+v, %v", res, err)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	o := newOrg(t, 0)
	raw := openaiemu.NewKeyValue("sk-proj-")
	verify := o.client.Plan(providers.OpVerify, cred(raw))
	if len(verify) != 1 || verify[0].Method != http.MethodGet || verify[0].URL != o.emu.URL()+"/v1/me" {
		t.Fatalf("verify plan %+v", verify)
	}
	revoke := o.client.Plan(providers.OpRevoke, cred(raw))
	if len(revoke) < 3 || revoke[0].URL != o.emu.URL()+"/v1/organization/projects?limit=100" ||
		revoke[1].URL != o.emu.URL()+"/v1/organization/projects/{project_id}/api_keys?limit=100&owner_project_access=any" ||
		revoke[len(revoke)-2].Method != http.MethodDelete {
		t.Fatalf("revoke plan %+v", revoke)
	}
	if n := len(o.emu.Server().Requests()); n != 0 {
		t.Fatalf("Plan made %d requests", n)
	}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, log logrus.FieldLogger) providertest.Fixture {
			emu := openaiemu.New()
			base := emu.Start()
			t.Cleanup(emu.Close)
			adminRaw, _ := emu.AddAdminKey("firebreak")
			project := emu.AddProject("conformance")
			return providertest.Fixture{
				Provider: openai.New(openai.Config{BaseURL: base, AdminKey: secret.Static(secret.New(adminRaw)), Logger: log}),
				Server:   emu.Server(),
				Live: func(t *testing.T) providers.Credential {
					raw, _ := emu.AddKey(project, openaiemu.Owner{})
					return cred(raw)
				},
				Unknown: func(t *testing.T) providers.Credential { return cred(openaiemu.NewKeyValue("sk-proj-")) },
				IsLive:  emu.Live,
			}
		},
		VerifyMatch:  "GET /v1/me",
		RevokeMatch:  "/v1/organization/",
		NotLiveOn401: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			project := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/v1/me", WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/me", Header: http.Header{"Authorization": {project}}, WantStatus: 401}, // no "Bearer "
				{Method: http.MethodGet, Path: "/v1/organization/projects", WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/organization/projects", Header: http.Header{"Authorization": {"Bearer " + project}}, WantStatus: 401},
				{Method: http.MethodDelete, Path: "/v1/organization/projects/proj_x/api_keys/key_x", WantStatus: 401},
				{Method: http.MethodGet, Path: "/v1/organization/admin_api_keys", Header: http.Header{"X-Api-Key": {project}}, WantStatus: 401},
			}
		},
	})
}

func TestOwner(t *testing.T) {
	o := newOrg(t, 0)
	p := o.emu.AddProject("app")
	raw, keyID := o.emu.AddKey(p, openaiemu.Owner{Name: "Ada", Email: "ada@example.com"})
	got, err := o.client.Owner(context.Background(), cred(raw))
	if err != nil || got.User != "Ada" || got.Email != "ada@example.com" || got.Facts["key_id"] != keyID {
		t.Fatalf("Owner = %+v, %v", got, err)
	}
	providertest.AssertNoSecret(t, raw, o.log.String())
}

func TestOwnerOfKeyWhoseOwnerLostProjectAccess(t *testing.T) {
	o := newOrg(t, 0)
	p := o.emu.AddProject("app")
	raw, keyID := o.emu.AddKey(p, openaiemu.Owner{Name: "Ada", Email: "ada@example.com"})
	o.emu.SetOwnerAccess(keyID, false)
	expires := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	o.emu.SetExpiresAt(keyID, expires)
	got, err := o.client.Owner(context.Background(), cred(raw))
	if err != nil || got.User != "Ada" || got.Facts["key_id"] != keyID {
		t.Fatalf("Owner = %+v, %v", got, err)
	}
	if got.Facts["owner_project_access"] != "inactive" || got.Facts["expires_at"] != "2027-03-01T12:00:00Z" {
		t.Fatalf("Owner facts %v; want owner_project_access=inactive, expires_at=2027-03-01T12:00:00Z", got.Facts)
	}
}
