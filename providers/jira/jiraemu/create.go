package jiraemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The calls Firebreak's Jira notifier makes (notify.jira): create an issue
// and find the one an incident already has.
//
//   - POST /rest/api/3/issue: fields project.key, summary, issuetype.name,
//     labels, description (ADF). An unknown project answers 400
//     {"errors":{"project":"valid project is required"}}; a missing summary 400
//     {"errors":{"summary":"You must specify a summary of the issue."}}; an
//     unknown issue type 400 {"errors":{"issuetype":"Specify a valid issue
//     type"}}; a label with spaces 400; a description that is not an ADF doc
//     400. 201 {"id","key","self"}.
//   - GET /rest/api/3/search/jql?jql=project = KEY AND labels = "L" (the only
//     JQL shape the emulator understands; others answer 400).

// AddProject creates a project, so that issues can be created in it through
// the API (issues added with AddIssue create their project themselves).
func (e *Emulator) AddProject(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.projects[key]; !ok {
		e.projects[key] = 0
	}
}

// Issues returns copies of a project's issues, in creation order.
func (e *Emulator) Issues(project string) []Issue {
	e.mu.Lock()
	var keys []string
	for k, is := range e.issues {
		if is.Project == project {
			keys = append(keys, k)
		}
	}
	e.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return issueNumber(keys[i]) < issueNumber(keys[j]) })
	out := make([]Issue, 0, len(keys))
	for _, k := range keys {
		if is, ok := e.Issue(k); ok {
			out = append(out, is)
		}
	}
	return out
}

func issueNumber(key string) int {
	n, _ := strconv.Atoi(key[strings.LastIndex(key, "-")+1:])
	return n
}

var issueTypes = map[string]bool{"Task": true, "Bug": true, "Story": true, "Incident": true}

func (e *Emulator) createIssue(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.auth(w, r); !ok {
		return
	}
	var in struct {
		Fields struct {
			Project struct {
				Key string `json:"key"`
			} `json:"project"`
			Summary   string `json:"summary"`
			IssueType struct {
				Name string `json:"name"`
			} `json:"issuetype"`
			Labels      []string        `json:"labels"`
			Description json.RawMessage `json:"description"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, http.StatusBadRequest, "Unexpected character in the request body")
		return
	}
	f := in.Fields
	errs := map[string]string{}
	e.mu.Lock()
	_, known := e.projects[f.Project.Key]
	e.mu.Unlock()
	if !known {
		errs["project"] = "valid project is required"
	}
	if strings.TrimSpace(f.Summary) == "" {
		errs["summary"] = "You must specify a summary of the issue."
	}
	if !issueTypes[f.IssueType.Name] {
		errs["issuetype"] = "Specify a valid issue type"
	}
	if len(f.Description) > 0 && !isADF(f.Description) {
		errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
	}
	for _, l := range f.Labels {
		if strings.ContainsAny(l, " \t") {
			errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
		}
	}
	if len(errs) > 0 {
		writeErrs(w, http.StatusBadRequest, nil, errs)
		return
	}
	key := e.AddIssue(f.Project.Key, f.Summary, f.Description)
	e.mu.Lock()
	is := e.issues[key]
	is.Type, is.Labels = f.IssueType.Name, append([]string(nil), f.Labels...)
	id := is.ID
	e.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "key": key, "self": "http://" + r.Host + "/rest/api/3/issue/" + id})
}

func isADF(b json.RawMessage) bool {
	var doc struct {
		Type    string `json:"type"`
		Version int    `json:"version"`
	}
	return json.Unmarshal(b, &doc) == nil && doc.Type == "doc" && doc.Version == 1
}

var jqlRe = regexp.MustCompile(`^project\s*=\s*"?([A-Z0-9_]+)"?\s+AND\s+labels\s*=\s*"([^"]+)"`)

func (e *Emulator) search(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.auth(w, r); !ok {
		return
	}
	m := jqlRe.FindStringSubmatch(r.URL.Query().Get("jql"))
	if m == nil {
		writeErr(w, http.StatusBadRequest, "The JQL query is not supported by this emulator or is invalid.")
		return
	}
	e.mu.Lock()
	_, known := e.projects[m[1]]
	e.mu.Unlock()
	if !known {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("The value '%s' does not exist for the field 'project'.", m[1]))
		return
	}
	all := e.Issues(m[1])
	issues := []any{}
	for i := len(all) - 1; i >= 0; i-- { // newest first
		for _, l := range all[i].Labels {
			if l == m[2] {
				issues = append(issues, map[string]any{"id": all[i].ID, "key": all[i].Key, "fields": map[string]string{"summary": all[i].Summary}})
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"issues": issues, "isLast": true})
}
