package openaiemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

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
