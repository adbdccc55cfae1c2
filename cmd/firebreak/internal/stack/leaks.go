package stack

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// LeakOpenAI creates a live OpenAI key (owned by a user, in the "payments"
// project) and a GitHub secret-scanning alert repo#number that holds it.
func (s *Stack) LeakOpenAI(repo string, number int64) (raw, keyID string) {
	s.mu.Lock()
	if s.paymentsProject == "" {
		s.paymentsProject = s.OpenAI.AddProject("payments")
	}
	p := s.paymentsProject
	s.mu.Unlock()
	raw, keyID = s.OpenAI.AddKey(p, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
	owner, name, _ := strings.Cut(repo, "/")
	s.GitHub.AddAlertNumber(owner, name, number, "openai_api_key", raw)
	return raw, keyID
}

// AlertPayload renders a GitHub secret_scanning_alert webhook body in GitHub's
// format (see testdata/github for recorded examples).
func AlertPayload(action, repo string, number int64, secretType string) []byte {
	owner, _, _ := strings.Cut(repo, "/")
	api := fmt.Sprintf("https://api.github.com/repos/%s/secret-scanning/alerts/%d", repo, number)
	now := time.Now().UTC().Format(time.RFC3339)
	p := map[string]any{
		"action": action,
		"alert": map[string]any{
			"number": number, "created_at": now, "updated_at": now, "url": api,
			"html_url":      fmt.Sprintf("https://github.com/%s/security/secret-scanning/%d", repo, number),
			"locations_url": api + "/locations", "state": "open", "resolution": nil, "resolved_at": nil, "resolved_by": nil,
			"secret_type": secretType, "secret_type_display_name": secretType, "validity": "active",
			"publicly_leaked": false, "multi_repo": false, "push_protection_bypassed": false,
		},
		"repository":   map[string]any{"id": 1, "name": strings.TrimPrefix(repo, owner+"/"), "full_name": repo, "private": true},
		"organization": map[string]any{"login": owner},
		"sender":       map[string]any{"login": "github"},
	}
	if action == "reopened" {
		p["sender"] = map[string]any{"login": "maria-sec"} // a person reopens an alert
	}
	if action == "resolved" {
		a := p["alert"].(map[string]any)
		a["state"], a["resolution"], a["resolved_by"] = "resolved", "false_positive", map[string]any{"login": "maria-sec"}
	}
	b, _ := json.Marshal(p)
	return b
}
