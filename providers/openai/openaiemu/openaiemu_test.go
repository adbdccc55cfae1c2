package openaiemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

func get(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not JSON: %s", url, b)
	}
	return resp.StatusCode, m
}

func TestKeysAndPagination(t *testing.T) {
	e := openaiemu.New()
	base := e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	p := e.AddProject("p")
	var ids []string
	for range 5 {
		raw, id := e.AddKey(p, openaiemu.Owner{})
		if !strings.HasPrefix(raw, "sk-proj-") || !strings.Contains(raw, openaiemu.Marker) {
			t.Fatal("key format")
		}
		ids = append(ids, id)
	}
	status, page := get(t, base+"/v1/organization/projects/"+p+"/api_keys?limit=2", admin)
	if status != 200 || page["object"] != "list" || page["has_more"] != true || page["last_id"] != ids[1] || page["first_id"] != ids[0] {
		t.Fatalf("first page %d %v", status, page)
	}
	k := page["data"].([]any)[0].(map[string]any)
	if k["object"] != "organization.project.api_key" || !strings.HasPrefix(k["redacted_value"].(string), "sk-proj-...") {
		t.Fatalf("key object %v", k)
	}
	// The cursor survives the deletion of its object.
	req, _ := http.NewRequest(http.MethodDelete, base+"/v1/organization/projects/"+p+"/api_keys/"+ids[1], nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp.Body.Close()
	_, page = get(t, base+"/v1/organization/projects/"+p+"/api_keys?limit=2&after="+ids[1], admin)
	if page["first_id"] != ids[2] || page["last_id"] != ids[3] || page["has_more"] != true {
		t.Fatalf("page after a deleted cursor %v", page)
	}
	if status, _ := get(t, base+"/v1/organization/projects?limit=101", admin); status != 400 {
		t.Fatalf("limit 101 → %d", status)
	}
	status, body := get(t, base+"/v1/organization/projects", "sk-proj-unknown0000000000000000")
	errObj := body["error"].(map[string]any)
	if status != 401 || errObj["code"] != "invalid_api_key" || strings.Contains(errObj["message"].(string), "unknown0000000000") {
		t.Fatalf("unknown key → %d %v", status, body)
	}
}

func TestArchivedProjects(t *testing.T) {
	e := openaiemu.New()
	base := e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	p := e.AddProject("old")
	raw, _ := e.AddKey(p, openaiemu.Owner{})
	e.ArchiveProject(p)
	if e.Live(raw) {
		t.Fatal("a key of an archived project still works")
	}
	_, page := get(t, base+"/v1/organization/projects", admin)
	if n := len(page["data"].([]any)); n != 0 {
		t.Fatalf("archived project listed by default (%d)", n)
	}
	_, page = get(t, base+"/v1/organization/projects?include_archived=true", admin)
	if n := len(page["data"].([]any)); n != 1 {
		t.Fatalf("include_archived lists %d", n)
	}
}

// keyIDs returns the ids of a list page's keys, and checks each key's
// owner_project_access against inactive.
func keyIDs(t *testing.T, page map[string]any, inactive map[string]bool) []string {
	t.Helper()
	var out []string
	for _, d := range page["data"].([]any) {
		k := d.(map[string]any)
		id := k["id"].(string)
		want := "active"
		if inactive[id] {
			want = "inactive"
		}
		if k["owner_project_access"] != want {
			t.Fatalf("key %s: owner_project_access %v, want %s", id, k["owner_project_access"], want)
		}
		out = append(out, id)
	}
	return out
}

func TestOwnerProjectAccessFilter(t *testing.T) {
	e := openaiemu.New()
	base := e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	p := e.AddProject("p")
	var ids []string
	for range 4 {
		_, id := e.AddKey(p, openaiemu.Owner{})
		ids = append(ids, id)
	}
	_, sa := e.AddKey(p, openaiemu.Owner{Type: openaiemu.OwnerServiceAccount})
	ids = append(ids, sa)
	// The owners of keys 1 and 4 (a service account) lost project access.
	e.SetOwnerAccess(ids[1], false)
	e.SetOwnerAccess(ids[4], false)
	inactive := map[string]bool{ids[1]: true, ids[4]: true}
	list := base + "/v1/organization/projects/" + p + "/api_keys"
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{ids[0], ids[2], ids[3]}}, // membership-based default: active owners only
		{"?owner_project_access=active", []string{ids[0], ids[2], ids[3]}},
		{"?owner_project_access=inactive", []string{ids[1], ids[4]}},
		{"?owner_project_access=any", ids},
	} {
		status, page := get(t, list+tc.query, admin)
		if status != 200 {
			t.Fatalf("%s → %d %v", tc.query, status, page)
		}
		if got := keyIDs(t, page, inactive); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q lists %v; want %v", tc.query, got, tc.want)
		}
	}
	// Paging under the filter: after= is a position, whichever keys it skips.
	_, page := get(t, list+"?owner_project_access=any&limit=2", admin)
	if got := keyIDs(t, page, inactive); page["has_more"] != true || strings.Join(got, ",") != ids[0]+","+ids[1] {
		t.Fatalf("first page %v", page)
	}
	_, page = get(t, list+"?owner_project_access=inactive&limit=1&after="+ids[1], admin)
	if got := keyIDs(t, page, inactive); page["has_more"] != false || len(got) != 1 || got[0] != ids[4] {
		t.Fatalf("inactive page after %s: %v", ids[1], page)
	}
	// A key whose owner lost access still works and is fetched by id.
	if status, k := get(t, list+"/"+ids[1], admin); status != 200 || k["owner_project_access"] != "inactive" {
		t.Fatalf("get inactive-owner key → %d %v", status, k)
	}
	// Restoring access brings the key back into the default view.
	e.SetOwnerAccess(ids[1], true)
	if _, page := get(t, list, admin); len(page["data"].([]any)) != 4 {
		t.Fatalf("after restoring access the default view lists %d keys", len(page["data"].([]any)))
	}
	for _, bad := range []string{"all", "", "ANY"} {
		status, body := get(t, list+"?owner_project_access="+bad, admin)
		errObj, _ := body["error"].(map[string]any)
		if status != 400 || errObj == nil || errObj["type"] != "invalid_request_error" ||
			errObj["param"] != "owner_project_access" || errObj["code"] != nil || errObj["message"] == "" {
			t.Errorf("owner_project_access=%q → %d %v", bad, status, body)
		}
		if _, ok := errObj["code"]; !ok {
			t.Errorf("owner_project_access=%q: the error has no code field (want null)", bad)
		}
	}
}

func TestKeyExpiresAt(t *testing.T) {
	e := openaiemu.New()
	base := e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	p := e.AddProject("p")
	_, never := e.AddKey(p, openaiemu.Owner{})
	_, expiring := e.AddKey(p, openaiemu.Owner{})
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	e.SetExpiresAt(expiring, at)
	_, k := get(t, base+"/v1/organization/projects/"+p+"/api_keys/"+never, admin)
	if _, ok := k["expires_at"]; ok {
		t.Fatalf("a key without expiry has expires_at: %v", k)
	}
	_, k = get(t, base+"/v1/organization/projects/"+p+"/api_keys/"+expiring, admin)
	if v, ok := k["expires_at"].(float64); !ok || int64(v) != at.Unix() {
		t.Fatalf("expires_at = %v; want %d", k["expires_at"], at.Unix())
	}
}
