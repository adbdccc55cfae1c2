package githubemu_test

import (
	"encoding/json"
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
