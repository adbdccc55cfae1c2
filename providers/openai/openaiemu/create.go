package openaiemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Creation is one service account the emulator created through the API.
type Creation struct {
	ProjectID        string
	ServiceAccountID string
	Name             string
	KeyID            string
	At               time.Time
}

// createServiceAccount serves POST
// /v1/organization/projects/{project_id}/service_accounts (OpenAI API
// reference, Administration → Project service accounts → Create): the body
// names the account ({"name": "…"}, required); the answer is the
// organization.project.service_account object with role "member" and its one
// API key, whose unredacted value appears only here.
func (e *Emulator) createServiceAccount(w http.ResponseWriter, r *http.Request) {
	p := e.lookupProject(w, r)
	if p == nil {
		return
	}
	var body struct {
		Name *string `json:"name"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error", "")
		return
	}
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		writeError(w, http.StatusBadRequest, "Missing required parameter: 'name'.", "invalid_request_error", "missing_required_parameter")
		return
	}
	e.mu.Lock()
	archived := p.archivedAt != 0
	e.mu.Unlock()
	if archived {
		writeError(w, http.StatusBadRequest, "Project '"+p.id+"' is archived; service accounts cannot be added.", "invalid_request_error", "")
		return
	}
	raw := NewKeyValue("sk-svcacct-")
	keyID := e.AddKeyValue(p.id, raw, Owner{Type: OwnerServiceAccount, Name: *body.Name})
	e.mu.Lock()
	k := e.keys[raw]
	sa := k.sa
	e.creations = append(e.creations, Creation{ProjectID: p.id, ServiceAccountID: sa.id, Name: sa.name, KeyID: keyID, At: time.Now()})
	out := map[string]any{
		"object": "organization.project.service_account", "id": sa.id, "name": sa.name, "role": "member", "created_at": sa.created,
		"api_key": map[string]any{
			"object": "organization.project.service_account.api_key", "value": raw, "name": "Secret Key",
			"created_at": k.created, "id": keyID,
		},
	}
	e.mu.Unlock()
	writeJSON(w, out)
}

// Creations returns every service account created through the API, in order.
func (e *Emulator) Creations() []Creation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Creation(nil), e.creations...)
}

// ServiceAccountExists reports whether a service account is still in its project.
func (e *Emulator) ServiceAccountExists(projectID, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.project(projectID)
	return p != nil && p.accounts[id] != nil
}

// KeyOf returns the raw key of a live service account (for tests that check
// what was written to Vault), or "".
func (e *Emulator) KeyOf(projectID, serviceAccountID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.project(projectID)
	if p == nil || p.accounts[serviceAccountID] == nil {
		return ""
	}
	return p.accounts[serviceAccountID].key.raw
}
