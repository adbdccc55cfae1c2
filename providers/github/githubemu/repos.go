package githubemu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// repository is an emulated repository's files and settings; its issues live
// with the others in e.issues (depth.go).
type repository struct {
	files          map[string]string
	commits        map[string]Commit
	issuesDisabled bool
}

// Issue is a copy of an emulated issue, for tests.
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
	var out []Issue
	for _, is := range e.issues {
		if is.owner != owner || is.repo != name {
			continue
		}
		c := Issue{Number: is.number, Title: is.title, Body: is.body, Labels: append([]string(nil), is.labels...),
			Assignees: append([]string(nil), is.assignees...), State: is.state, Author: is.author}
		if c.State == "" {
			c.State = "open"
		}
		for _, id := range is.comments {
			c.Comments = append(c.Comments, e.comments[id].body)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
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
	is := e.addIssue(&issue{owner: r.PathValue("owner"), repo: r.PathValue("repo"), title: in.Title, body: in.Body,
		labels: in.Labels, assignees: in.Assignees, state: "open", author: t.login})
	writeJSON(w, http.StatusCreated, issueJSON("http://"+r.Host, is))
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
	var mine []*issue
	for _, is := range e.issues {
		if is.owner == r.PathValue("owner") && is.repo == r.PathValue("repo") {
			mine = append(mine, is)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].number > mine[j].number }) // newest first
	out := []any{}
	for _, is := range mine {
		st := is.state
		if st == "" {
			st = "open"
		}
		if state != "all" && st != state {
			continue
		}
		have := 0
		for _, l := range is.labels {
			if want[l] {
				have++
			}
		}
		if have < len(want) {
			continue
		}
		out = append(out, issueJSON("http://"+r.Host, is))
	}
	writeJSON(w, http.StatusOK, out)
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
