// Package jiraemu emulates the Jira Cloud REST API v3 calls Firebreak makes
// as a notifier, over real HTTP (emulator.Server): POST /rest/api/3/issue,
// GET /rest/api/3/search/jql (JQL of the form `project = KEY AND labels =
// "L"`), POST /rest/api/3/issue/{key}/comment. Requests need Basic auth with
// a registered email and API token (401 "Client must be authenticated to
// access this resource." otherwise); an unknown project answers 400
// {"errors":{"project":"valid project is required"}}; a missing summary 400
// {"errors":{"summary":"You must specify a summary of the issue."}}; an
// unknown issue type 400; a description that is not an ADF doc 400.
package jiraemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/internal/keystore"
)

// Issue is an emulated issue.
type Issue struct {
	ID, Key, Project, Summary, Type string
	Labels                          []string
	Description                     json.RawMessage
	Comments                        []json.RawMessage
}

// Emulator is an emulated Jira site.
type Emulator struct {
	*emulator.Server
	mu       sync.Mutex
	users    map[string]string // email → API token
	projects map[string]bool
	issues   []*Issue
}

// New returns an unstarted emulator.
func New() *Emulator {
	e := &Emulator{users: map[string]string{}, projects: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rest/api/3/issue", e.auth(e.create))
	mux.HandleFunc("GET /rest/api/3/search/jql", e.auth(e.search))
	mux.HandleFunc("POST /rest/api/3/issue/{key}/comment", e.auth(e.comment))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeErr(w, http.StatusNotFound, []string{"Not Found"}, nil)
	})
	e.Server = emulator.New(mux, ErrorBody)
	return e
}

// AddUser registers an account and returns its API token.
func (e *Emulator) AddUser(email string) string {
	tok := "ATATT3x" + keystore.RandomAlnum(48)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[email] = tok
	return tok
}

// AddProject creates a project.
func (e *Emulator) AddProject(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.projects[key] = true
}

// Issues returns the project's issues.
func (e *Emulator) Issues(project string) []Issue {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Issue
	for _, is := range e.issues {
		if is.Project == project {
			c := *is
			c.Comments = append([]json.RawMessage(nil), is.Comments...)
			out = append(out, c)
		}
	}
	return out
}

// ErrorBody renders a fault as Jira does.
func ErrorBody(status int) (string, []byte) {
	b, _ := json.Marshal(map[string]any{"errorMessages": []string{http.StatusText(status)}, "errors": map[string]string{}})
	return "application/json;charset=UTF-8", b
}

func writeErr(w http.ResponseWriter, status int, msgs []string, fields map[string]string) {
	if msgs == nil {
		msgs = []string{}
	}
	if fields == nil {
		fields = map[string]string{}
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errorMessages": msgs, "errors": fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (e *Emulator) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
		dec, err := base64.StdEncoding.DecodeString(b)
		email, tok, _ := strings.Cut(string(dec), ":")
		e.mu.Lock()
		valid := ok && err == nil && tok != "" && e.users[email] == tok
		e.mu.Unlock()
		if !valid {
			writeErr(w, http.StatusUnauthorized, []string{"Client must be authenticated to access this resource."}, nil)
			return
		}
		h(w, r)
	}
}

func (e *Emulator) create(w http.ResponseWriter, r *http.Request) {
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
		writeErr(w, http.StatusBadRequest, []string{"Unexpected character in the request body"}, nil)
		return
	}
	f := in.Fields
	errs := map[string]string{}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.projects[f.Project.Key] {
		errs["project"] = "valid project is required"
	}
	if strings.TrimSpace(f.Summary) == "" {
		errs["summary"] = "You must specify a summary of the issue."
	}
	switch f.IssueType.Name {
	case "Task", "Bug", "Story", "Incident":
	default:
		errs["issuetype"] = "Specify a valid issue type"
	}
	var doc struct {
		Type    string `json:"type"`
		Version int    `json:"version"`
	}
	if len(f.Description) > 0 && (json.Unmarshal(f.Description, &doc) != nil || doc.Type != "doc" || doc.Version != 1) {
		errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
	}
	for _, l := range f.Labels {
		if strings.ContainsAny(l, " \t") {
			errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
		}
	}
	if len(errs) > 0 {
		writeErr(w, http.StatusBadRequest, nil, errs)
		return
	}
	n := 0
	for _, is := range e.issues {
		if is.Project == f.Project.Key {
			n++
		}
	}
	is := &Issue{ID: fmt.Sprint(10000 + len(e.issues)), Key: fmt.Sprintf("%s-%d", f.Project.Key, n+1), Project: f.Project.Key,
		Summary: f.Summary, Type: f.IssueType.Name, Labels: f.Labels, Description: f.Description}
	e.issues = append(e.issues, is)
	writeJSON(w, http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": "http://" + r.Host + "/rest/api/3/issue/" + is.ID})
}

var jqlRe = regexp.MustCompile(`^project\s*=\s*"?([A-Z0-9_]+)"?\s+AND\s+labels\s*=\s*"([^"]+)"`)

func (e *Emulator) search(w http.ResponseWriter, r *http.Request) {
	m := jqlRe.FindStringSubmatch(r.URL.Query().Get("jql"))
	if m == nil {
		writeErr(w, http.StatusBadRequest, []string{"The JQL query is not supported by this emulator or is invalid."}, nil)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.projects[m[1]] {
		writeErr(w, http.StatusBadRequest, []string{"The value '" + m[1] + "' does not exist for the field 'project'."}, nil)
		return
	}
	issues := []any{}
	for i := len(e.issues) - 1; i >= 0; i-- {
		is := e.issues[i]
		if is.Project != m[1] {
			continue
		}
		for _, l := range is.Labels {
			if l == m[2] {
				issues = append(issues, map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]string{"summary": is.Summary}})
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"issues": issues, "isLast": true})
}

func (e *Emulator) comment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body json.RawMessage `json:"body"`
	}
	if json.NewDecoder(r.Body).Decode(&in) != nil || len(in.Body) == 0 {
		writeErr(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, is := range e.issues {
		if is.Key == r.PathValue("key") || is.ID == r.PathValue("key") {
			is.Comments = append(is.Comments, in.Body)
			writeJSON(w, http.StatusCreated, map[string]any{"id": fmt.Sprint(len(is.Comments)), "body": in.Body})
			return
		}
	}
	writeErr(w, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
}
