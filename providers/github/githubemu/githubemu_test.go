package githubemu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
)

func post(t *testing.T, url, body, auth string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestCredentialsRevoke(t *testing.T) {
	e := githubemu.New(githubemu.WithRevokeRateLimit(3, time.Hour))
	base := e.Start()
	defer e.Close()
	tok := e.AddToken(github.PrefixPAT, "octocat")
	if !github.ChecksumValid(tok) {
		t.Fatal("emulator token has a bad checksum")
	}
	resp, body := post(t, base+"/credentials/revoke", `{"credentials":["`+tok+`"]}`, "Bearer "+tok)
	if resp.StatusCode != 403 || e.Revoked(tok) {
		t.Fatalf("authenticated revoke → %d %v", resp.StatusCode, body)
	}
	resp, body = post(t, base+"/credentials/revoke", `{"credentials":[]}`, "")
	if resp.StatusCode != 422 || body["message"] != "Validation Failed" || resp.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("empty list → %d %v %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = post(t, base+"/credentials/revoke", `{"credentials":["`+tok+`","ghp_notatoken"]}`, "")
	if resp.StatusCode != 202 || !e.Revoked(tok) || resp.Header.Get("X-RateLimit-Limit") != "3" {
		t.Fatalf("revoke → %d", resp.StatusCode)
	}
	post(t, base+"/credentials/revoke", `{"credentials":["x"]}`, "")
	resp, body = post(t, base+"/credentials/revoke", `{"credentials":["x"]}`, "")
	if resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") == "" ||
		!strings.Contains(body["message"].(string), "rate limit exceeded") {
		t.Fatalf("4th request in the hour → %d %v", resp.StatusCode, body)
	}
	// A revoked token answers Bad credentials.
	req, _ := http.NewRequest(http.MethodGet, base+"/user", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 401 || !strings.Contains(string(b), `"Bad credentials"`) || !strings.Contains(string(b), "documentation_url") {
		t.Fatalf("revoked token on /user → %d %s", r.StatusCode, b)
	}
}

func TestCredentialsRevokeSpammed(t *testing.T) {
	e := githubemu.New(githubemu.WithRevokeSpamGap(300 * time.Millisecond))
	base := e.Start()
	defer e.Close()
	a, b := e.AddToken(github.PrefixPAT, "a"), e.AddToken(github.PrefixPAT, "b")
	if resp, _ := post(t, base+"/credentials/revoke", `{"credentials":["`+a+`"]}`, ""); resp.StatusCode != 202 {
		t.Fatalf("first revoke → %d", resp.StatusCode)
	}
	resp, body := post(t, base+"/credentials/revoke", `{"credentials":["`+b+`"]}`, "")
	if resp.StatusCode != 422 || e.Revoked(b) || body["status"] != "422" ||
		!strings.Contains(body["message"].(string), "spammed") || !strings.Contains(body["documentation_url"].(string), "credentials/revoke") {
		t.Fatalf("revoke right after → %d %v", resp.StatusCode, body)
	}
	if _, ok := body["errors"]; ok {
		t.Fatalf("spam 422 has errors: %v", body)
	}
	time.Sleep(350 * time.Millisecond)
	if resp, _ := post(t, base+"/credentials/revoke", `{"credentials":["`+b+`"]}`, ""); resp.StatusCode != 202 || !e.Revoked(b) {
		t.Fatalf("revoke after the gap → %d", resp.StatusCode)
	}
}

// alertDoc sends method to an alert's URL with tok and returns the alert.
func alertDoc(t *testing.T, method, url, tok, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil {
		t.Fatalf("%s %s → %d %s", method, url, resp.StatusCode, b)
	}
	return m
}

// TestAlertResolveAndReopen: resolving an alert through "Update a secret
// scanning alert" sets resolution, resolved_at, resolved_by (the caller) and
// the comment, and moves updated_at; reopening it sets those back to null
// and moves updated_at again; created_at never moves. The listing of open
// alerts shows it again, as it is.
func TestAlertResolveAndReopen(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 14, 3, 0, time.UTC)
	e := githubemu.New(githubemu.WithAlertClock(func() time.Time { return now }))
	base := e.Start()
	defer e.Close()
	tok := e.AddToken(github.PrefixPAT, "maria-sec")
	n := e.AddAlert("acme", "api", "openai_api_key", "sk-emu-reopen")
	url := fmt.Sprintf("%s/repos/acme/api/secret-scanning/alerts/%d", base, n)

	a := alertDoc(t, http.MethodGet, url, tok, "")
	if a["created_at"] != "2026-11-26T09:14:03Z" || a["updated_at"] != a["created_at"] || a["resolution"] != nil || a["resolved_at"] != nil {
		t.Fatalf("new alert: %v", a)
	}
	now = now.Add(time.Minute)
	a = alertDoc(t, http.MethodPatch, url, tok, `{"state":"resolved","resolution":"false_positive","resolution_comment":"test fixture"}`)
	by, _ := a["resolved_by"].(map[string]any)
	if a["state"] != "resolved" || a["resolution"] != "false_positive" || a["resolved_at"] != "2026-11-26T09:15:03Z" ||
		a["updated_at"] != "2026-11-26T09:15:03Z" || a["resolution_comment"] != "test fixture" || by["login"] != "maria-sec" ||
		a["created_at"] != "2026-11-26T09:14:03Z" {
		t.Fatalf("resolved: %v", a)
	}
	if got := alertDoc(t, http.MethodGet, url, tok, ""); got["resolved_at"] != a["resolved_at"] || got["updated_at"] != a["updated_at"] {
		t.Fatalf("GET after resolving: %v", got)
	}
	now = now.Add(time.Minute)
	a = alertDoc(t, http.MethodPatch, url, tok, `{"state":"open"}`)
	for _, f := range []string{"resolution", "resolved_at", "resolved_by", "resolution_comment"} {
		if v, ok := a[f]; !ok || v != nil {
			t.Fatalf("reopened alert's %s: %v (present %v), want null", f, v, ok)
		}
	}
	if a["state"] != "open" || a["updated_at"] != "2026-11-26T09:16:03Z" || a["created_at"] != "2026-11-26T09:14:03Z" {
		t.Fatalf("reopened: %v", a)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/repos/acme/api/secret-scanning/alerts?state=open", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var listed []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || len(listed) != 1 || listed[0]["updated_at"] != "2026-11-26T09:16:03Z" || listed[0]["resolved_at"] != nil {
		t.Fatalf("open listing: %v %v", listed, err)
	}
}
