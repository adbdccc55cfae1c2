package githubemu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// repository is an emulated repository's files and issues.
type repository struct {
	files          map[string]string
	commits        map[string]Commit
	issues         []*Issue
	issuesDisabled bool
}

// Issue is an emulated issue.
type Issue struct {
	Number    int
	Title     string
	Body      string
	Labels    []string
	Assignees []string
	State     string
	Comments  []string
	Author    string
}

func (e *Emulator) repo(owner, name string) *repository {
	key := owner + "/" + name
	r := e.repos[key]
	if r == nil {
		r = &repository{files: map[string]string{}, commits: map[string]Commit{}}
		e.repos[key] = r
	}
	return r
}

// AddRepo makes owner/repo exist (with issues enabled).
func (e *Emulator) AddRepo(owner, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.repo(owner, name)
}

// DisableIssues turns off owner/repo's issues.
func (e *Emulator) DisableIssues(owner, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.repo(owner, name).issuesDisabled = true
}

// SetFile puts a file at path in owner/repo's default branch.
func (e *Emulator) SetFile(owner, name, path, content string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.repo(owner, name).files[strings.TrimPrefix(path, "/")] = content
}

// Issues returns owner/repo's issues.
func (e *Emulator) Issues(owner, name string) []Issue {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.repos[owner+"/"+name]
	if r == nil {
		return nil
	}
	out := make([]Issue, len(r.issues))
	for i, is := range r.issues {
		out[i] = *is
		out[i].Comments = append([]string(nil), is.Comments...)
	}
	return out
}

// findRepo authenticates and returns the repository, or writes the error.
func (e *Emulator) findRepo(w http.ResponseWriter, r *http.Request, doc string) (*repository, *token) {
	t := e.authenticate(w, r, doc)
	if t == nil {
		return nil, nil
	}
	e.mu.Lock()
	rp := e.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
	e.mu.Unlock()
	if rp == nil {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return nil, nil
	}
	return rp, t
}

func (e *Emulator) getContents(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/repos/contents#get-repository-content"
	rp, _ := e.findRepo(w, r, doc)
	if rp == nil {
		return
	}
	path := r.PathValue("path")
	e.mu.Lock()
	content, ok := rp.files[path]
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return
	}
	enc := base64.StdEncoding.EncodeToString([]byte(content))
	// GitHub wraps the base64 at 60 characters with newlines.
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 60 {
		wrapped.WriteString(enc[i:min(i+60, len(enc))] + "\n")
	}
	base := "http://" + r.Host + "/repos/" + r.PathValue("owner") + "/" + r.PathValue("repo")
	writeJSON(w, http.StatusOK, map[string]any{"type": "file", "encoding": "base64", "size": len(content), "name": path[strings.LastIndex(path, "/")+1:],
		"path": path, "content": wrapped.String(), "sha": fakeSHA("file " + path + content), "url": base + "/contents/" + path,
		"html_url": "https://github.com/" + r.PathValue("owner") + "/" + r.PathValue("repo") + "/blob/main/" + path})
}

func issueJSON(r *http.Request, is *Issue) map[string]any {
	labels := []any{}
	for _, l := range is.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	assignees := []any{}
	for _, a := range is.Assignees {
		assignees = append(assignees, map[string]any{"login": a})
	}
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	return map[string]any{"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State, "labels": labels, "assignees": assignees,
		"user": map[string]any{"login": is.Author}, "comments": len(is.Comments),
		"url":      "http://" + r.Host + "/repos/" + repo + "/issues/" + strconv.Itoa(is.Number),
		"html_url": "https://github.com/" + repo + "/issues/" + strconv.Itoa(is.Number), "created_at": time.Now().UTC().Format(time.RFC3339)}
}

func (e *Emulator) createIssue(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/issues/issues#create-an-issue"
	rp, t := e.findRepo(w, r, doc)
	if rp == nil {
		return
	}
	var in struct {
		Title     string   `json:"title"`
		Body      string   `json:"body"`
		Labels    []string `json:"labels"`
		Assignees []string `json:"assignees"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if rp.issuesDisabled {
		writeError(w, http.StatusGone, "Issues are disabled for this repo", doc)
		return
	}
	if strings.TrimSpace(in.Title) == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": "Validation Failed", "documentation_url": doc, "status": "422",
			"errors": []any{map[string]string{"resource": "Issue", "field": "title", "code": "missing_field"}}})
		return
	}
	is := &Issue{Number: len(rp.issues) + 1, Title: in.Title, Body: in.Body, Labels: in.Labels, Assignees: in.Assignees, State: "open", Author: t.login}
	rp.issues = append(rp.issues, is)
	writeJSON(w, http.StatusCreated, issueJSON(r, is))
}

func (e *Emulator) listIssues(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/issues/issues#list-repository-issues"
	rp, _ := e.findRepo(w, r, doc)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	want := map[string]bool{}
	for _, l := range strings.Split(q.Get("labels"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			want[l] = true
		}
	}
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []any{}
	for i := len(rp.issues) - 1; i >= 0; i-- { // newest first
		is := rp.issues[i]
		if state != "all" && is.State != state {
			continue
		}
		have := 0
		for _, l := range is.Labels {
			if want[l] {
				have++
			}
		}
		if have < len(want) {
			continue
		}
		out = append(out, issueJSON(r, is))
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) createComment(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/issues/comments#create-an-issue-comment"
	rp, _ := e.findRepo(w, r, doc)
	if rp == nil {
		return
	}
	var in struct {
		Body string `json:"body"`
	}
	if json.NewDecoder(r.Body).Decode(&in) != nil || strings.TrimSpace(in.Body) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", doc)
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 1 || n > len(rp.issues) {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return
	}
	rp.issues[n-1].Comments = append(rp.issues[n-1].Comments, in.Body)
	writeJSON(w, http.StatusCreated, map[string]any{"id": n*1000 + len(rp.issues[n-1].Comments), "body": in.Body})
}

// Commit is an emulated commit's author.
type Commit struct {
	SHA         string
	AuthorName  string
	AuthorEmail string
	Login       string // the GitHub account of the author, if linked
}

// SetCommit records a commit of owner/repo.
func (e *Emulator) SetCommit(owner, name string, c Commit) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.repo(owner, name).commits[c.SHA] = c
}

func (e *Emulator) getCommit(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/commits/commits#get-a-commit"
	rp, _ := e.findRepo(w, r, doc)
	if rp == nil {
		return
	}
	e.mu.Lock()
	c, ok := rp.commits[r.PathValue("ref")]
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+r.PathValue("ref"), doc)
		return
	}
	var author any
	if c.Login != "" {
		author = map[string]any{"login": c.Login, "type": "User"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": c.SHA, "author": author,
		"commit": map[string]any{"author": map[string]any{"name": c.AuthorName, "email": c.AuthorEmail, "date": "2026-01-01T00:00:00Z"},
			"message": "update config"}})
}
