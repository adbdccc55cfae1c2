package openaiemu_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

func post(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
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
		t.Fatalf("not JSON: %s", b)
	}
	return resp.StatusCode, m
}

func TestCreateServiceAccount(t *testing.T) {
	e := openaiemu.New()
	base := e.Start()
	defer e.Close()
	admin, _ := e.AddAdminKey("a")
	p := e.AddProject("p")
	url := base + "/v1/organization/projects/" + p + "/service_accounts"

	status, sa := post(t, url, admin, `{"name":"billing-rotation"}`)
	if status != 200 || sa["object"] != "organization.project.service_account" || sa["name"] != "billing-rotation" || sa["role"] != "member" {
		t.Fatalf("create: %d %v", status, sa)
	}
	key := sa["api_key"].(map[string]any)
	value, _ := key["value"].(string)
	if key["object"] != "organization.project.service_account.api_key" || !strings.HasPrefix(value, "sk-svcacct-") || !strings.HasPrefix(key["id"].(string), "key_") {
		t.Fatalf("api_key: object %v, id %v, value %s", key["object"], key["id"], secret.Hint(secret.New(value)))
	}
	if !e.Live(value) || e.KeyOf(p, sa["id"].(string)) != value || len(e.Creations()) != 1 {
		t.Fatal("the created key is not live in the organization")
	}
	// The account appears in the list, without its key.
	status, list := get(t, url, admin)
	if status != 200 || len(list["data"].([]any)) != 1 || strings.Contains(mustJSON(list), value) {
		t.Fatalf("list: %d %v", status, list)
	}
	// Errors: no name, no admin key, a project key.
	if status, body := post(t, url, admin, `{}`); status != 400 || body["error"].(map[string]any)["code"] != "missing_required_parameter" {
		t.Fatalf("no name: %d %v", status, body)
	}
	if status, _ := post(t, url, "", `{"name":"x"}`); status != 401 {
		t.Fatalf("no key: %d", status)
	}
	if status, _ := post(t, url, value, `{"name":"x"}`); status != 401 {
		t.Fatalf("a project key on an admin endpoint: %d", status)
	}
	if status, _ := post(t, base+"/v1/organization/projects/proj_nope/service_accounts", admin, `{"name":"x"}`); status != 404 {
		t.Fatalf("unknown project: %d", status)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
