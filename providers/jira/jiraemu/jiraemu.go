// Package jiraemu emulates the parts of Jira Cloud that Firebreak uses, over
// real HTTP on emulator.Server (recorded requests, injectable faults), for
// tests and the demo. It follows the Jira Cloud platform REST API v3:
//
//   - Basic auth (email:api_token); a request without it, or with unknown
//     credentials, gets 401 {"errorMessages":["Client must be authenticated to
//     access this resource."],"errors":{}}.
//   - GET/PUT /rest/api/3/issue/{issueIdOrKey} (fields summary, description;
//     PUT answers 204; a description that is not an ADF document gets 400
//     {"errorMessages":[],"errors":{"description":"Operation value must be an
//     Atlassian Document (see the Atlassian Document Format)"}}).
//   - GET/POST /rest/api/3/issue/{issueIdOrKey}/comment (paged with startAt,
//     maxResults, total; POST answers 201), GET/PUT …/comment/{id} (200).
//     Comment bodies must be ADF documents.
//   - 404 {"errorMessages":["Issue does not exist or you do not have permission
//     to see it."],"errors":{}} for unknown issues.
//
// It serves the notifier's calls too (create.go): POST /rest/api/3/issue and
// GET /rest/api/3/search/jql.
//
// It also renders webhook payloads (jira:issue_created, jira:issue_updated,
// comment_created, comment_updated) in Jira Cloud's webhook shape, for tests
// to post to Firebreak.
package jiraemu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/tickets/adf"
	"github.com/firebreak-sec/firebreak/providers/emulator"
)

// Emulator is an in-memory Jira Cloud site behind real HTTP.
type Emulator struct {
	srv *emulator.Server

	mu       sync.Mutex
	users    map[string]string // email → api token
	issues   map[string]*Issue // by key
	byID     map[string]string // id → key
	nextID   int
	nextCmt  int
	projects map[string]int
}

// Issue is an emulated issue.
type Issue struct {
	ID, Key, Project string
	Summary          string
	Type             string          // issue type, when created through the API
	Labels           []string        // labels, when created through the API
	Description      json.RawMessage // ADF or nil
	Comments         []*Comment
}

// Comment is an emulated comment.
type Comment struct {
	ID      string
	Body    json.RawMessage // ADF
	Author  string
	Created time.Time
	Updated time.Time
}

// New returns an emulator (not yet listening; call Start).
func New() *Emulator {
	e := &Emulator{users: map[string]string{}, issues: map[string]*Issue{}, byID: map[string]string{},
		nextID: 10000, nextCmt: 20000, projects: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rest/api/3/issue", e.createIssue)
	mux.HandleFunc("GET /rest/api/3/search/jql", e.search)
	mux.HandleFunc("GET /rest/api/3/issue/{key}", e.getIssue)
	mux.HandleFunc("PUT /rest/api/3/issue/{key}", e.putIssue)
	mux.HandleFunc("GET /rest/api/3/issue/{key}/comment", e.listComments)
	mux.HandleFunc("POST /rest/api/3/issue/{key}/comment", e.addComment)
	mux.HandleFunc("GET /rest/api/3/issue/{key}/comment/{id}", e.getComment)
	mux.HandleFunc("PUT /rest/api/3/issue/{key}/comment/{id}", e.putComment)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "No route found for "+r.Method+" "+r.URL.Path)
	})
	e.srv = emulator.New(mux, ErrorBody)
	return e
}

// Server is the recording, fault-injecting server underneath.
func (e *Emulator) Server() *emulator.Server { return e.srv }

// Start serves on a loopback port and returns the base URL.
func (e *Emulator) Start() string { return e.srv.Start() }

// URL is the base URL once started.
func (e *Emulator) URL() string { return e.srv.URL() }

// Close stops the server.
func (e *Emulator) Close() { e.srv.Close() }

// ErrorBody renders an injected fault in Jira's error shape.
func ErrorBody(status int) (string, []byte) {
	b, _ := json.Marshal(map[string]any{"errorMessages": []string{http.StatusText(status)}, "errors": map[string]string{}})
	return "application/json;charset=UTF-8", b
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeErrs(w, status, []string{msg}, map[string]string{})
}

func writeErrs(w http.ResponseWriter, status int, msgs []string, fields map[string]string) {
	if msgs == nil {
		msgs = []string{}
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

// AddUser registers an account and returns its API token.
func (e *Emulator) AddUser(email string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "ATATT3x" + hex.EncodeToString(b)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[email] = tok
	return tok
}

func (e *Emulator) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if ok {
		if raw, err := base64.StdEncoding.DecodeString(h); err == nil {
			email, tok, _ := strings.Cut(string(raw), ":")
			e.mu.Lock()
			want, known := e.users[email]
			e.mu.Unlock()
			if known && tok != "" && tok == want {
				return email, true
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
	writeErr(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
	return "", false
}

// AddIssue creates an issue in project with a summary and a description
// (ADF; nil for none) and returns its key ("PAY-1").
func (e *Emulator) AddIssue(project, summary string, description json.RawMessage) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.projects[project]++
	e.nextID++
	key := fmt.Sprintf("%s-%d", project, e.projects[project])
	id := strconv.Itoa(e.nextID)
	e.issues[key] = &Issue{ID: id, Key: key, Project: project, Summary: summary, Description: description}
	e.byID[id] = key
	return key
}

// SetLabels replaces an issue's labels, as a person editing the issue in
// Jira would; webhook payloads carry them in fields.labels.
func (e *Emulator) SetLabels(key string, labels ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if is := e.issues[key]; is != nil {
		is.Labels = append([]string(nil), labels...)
	}
}

// AddComment adds a comment (ADF body) to an issue and returns its id.
func (e *Emulator) AddComment(key string, body json.RawMessage, author string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addCommentLocked(e.issues[key], body, author)
}

func (e *Emulator) addCommentLocked(is *Issue, body json.RawMessage, author string) string {
	if is == nil {
		return ""
	}
	e.nextCmt++
	now := time.Now().UTC()
	c := &Comment{ID: strconv.Itoa(e.nextCmt), Body: append(json.RawMessage(nil), body...), Author: author, Created: now, Updated: now}
	is.Comments = append(is.Comments, c)
	return c.ID
}

// Issue returns a copy of an issue and its comments.
func (e *Emulator) Issue(key string) (Issue, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	is := e.issues[key]
	if is == nil {
		return Issue{}, false
	}
	out := *is
	out.Comments = nil
	for _, c := range is.Comments {
		cc := *c
		out.Comments = append(out.Comments, &cc)
	}
	return out, true
}

// CommentText returns the text of a comment's ADF body.
func (e *Emulator) CommentText(key, id string) string {
	is, _ := e.Issue(key)
	for _, c := range is.Comments {
		if c.ID == id {
			s, _ := adf.Text(c.Body)
			return s
		}
	}
	return ""
}

func (e *Emulator) find(w http.ResponseWriter, r *http.Request) *Issue {
	k := r.PathValue("key")
	e.mu.Lock()
	if key, ok := e.byID[k]; ok {
		k = key
	}
	is := e.issues[k]
	e.mu.Unlock()
	if is == nil {
		writeErr(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
	}
	return is
}

func (e *Emulator) issueJSON(base string, is *Issue) map[string]any {
	var desc any
	if len(is.Description) > 0 {
		desc = json.RawMessage(is.Description)
	}
	return map[string]any{
		"id": is.ID, "key": is.Key, "self": base + "/rest/api/3/issue/" + is.ID,
		"fields": map[string]any{
			"summary": is.Summary, "description": desc,
			"project": map[string]any{"id": "100" + strconv.Itoa(len(is.Project)), "key": is.Project, "name": is.Project},
		},
	}
}

func (e *Emulator) getIssue(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.auth(w, r); !ok {
		return
	}
	is := e.find(w, r)
	if is == nil {
		return
	}
	e.mu.Lock()
	out := e.issueJSON("http://"+r.Host, is)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) putIssue(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.auth(w, r); !ok {
		return
	}
	is := e.find(w, r)
	if is == nil {
		return
	}
	var body struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "Unexpected character in request body.")
		return
	}
	var summary *string
	var desc json.RawMessage
	for k, v := range body.Fields {
		switch k {
		case "summary":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s == "" {
				writeErrs(w, http.StatusBadRequest, nil, map[string]string{"summary": "You must specify a summary of the issue."})
				return
			}
			summary = &s
		case "description":
			if !adf.IsDoc(v) && string(v) != "null" {
				writeErrs(w, http.StatusBadRequest, nil, map[string]string{"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"})
				return
			}
			desc = v
		default:
			writeErrs(w, http.StatusBadRequest, nil, map[string]string{k: "Field '" + k + "' cannot be set. It is not on the appropriate screen, or unknown."})
			return
		}
	}
	e.mu.Lock()
	if summary != nil {
		is.Summary = *summary
	}
	if desc != nil {
		if string(desc) == "null" {
			desc = nil
		}
		is.Description = append(json.RawMessage(nil), desc...)
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func commentJSON(base string, is *Issue, c *Comment) map[string]any {
	return map[string]any{
		"self": base + "/rest/api/3/issue/" + is.ID + "/comment/" + c.ID, "id": c.ID,
		"author": map[string]any{"accountId": "acc-" + c.Author, "displayName": c.Author, "active": true},
		"body":   json.RawMessage(c.Body), "created": c.Created.Format("2006-01-02T15:04:05.000-0700"),
		"updated": c.Updated.Format("2006-01-02T15:04:05.000-0700"), "jsdPublic": true,
	}
}

func (e *Emulator) listComments(w http.ResponseWriter, r *http.Request) {
	if _, ok := e.auth(w, r); !ok {
		return
	}
	is := e.find(w, r)
	if is == nil {
		return
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("startAt"))
	maxR, err := strconv.Atoi(r.URL.Query().Get("maxResults"))
	if err != nil || maxR <= 0 || maxR > 100 {
		maxR = 100
	}
	base := "http://" + r.Host
	e.mu.Lock()
	total := len(is.Comments)
	start = min(max(start, 0), total)
	end := min(start+maxR, total)
	cs := make([]any, 0, end-start)
	for _, c := range is.Comments[start:end] {
		cs = append(cs, commentJSON(base, is, c))
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"startAt": start, "maxResults": maxR, "total": total, "comments": cs})
}

func decodeBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	var body struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !adf.IsDoc(body.Body) {
		writeErrs(w, http.StatusBadRequest, []string{"Comment body is not valid!"}, map[string]string{})
		return nil, false
	}
	return body.Body, true
}

func (e *Emulator) addComment(w http.ResponseWriter, r *http.Request) {
	user, ok := e.auth(w, r)
	if !ok {
		return
	}
	is := e.find(w, r)
	if is == nil {
		return
	}
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	id := e.addCommentLocked(is, body, user)
	out := commentJSON("http://"+r.Host, is, is.Comments[len(is.Comments)-1])
	e.mu.Unlock()
	_ = id
	writeJSON(w, http.StatusCreated, out)
}

func (e *Emulator) comment(w http.ResponseWriter, r *http.Request) (*Issue, *Comment) {
	if _, ok := e.auth(w, r); !ok {
		return nil, nil
	}
	is := e.find(w, r)
	if is == nil {
		return nil, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range is.Comments {
		if c.ID == r.PathValue("id") {
			return is, c
		}
	}
	writeErr(w, http.StatusNotFound, "Can not find a comment for the id: "+r.PathValue("id")+".")
	return nil, nil
}

func (e *Emulator) getComment(w http.ResponseWriter, r *http.Request) {
	is, c := e.comment(w, r)
	if c == nil {
		return
	}
	e.mu.Lock()
	out := commentJSON("http://"+r.Host, is, c)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) putComment(w http.ResponseWriter, r *http.Request) {
	is, c := e.comment(w, r)
	if c == nil {
		return
	}
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	c.Body, c.Updated = append(json.RawMessage(nil), body...), time.Now().UTC()
	out := commentJSON("http://"+r.Host, is, c)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// ---- webhook payloads ----

// CommentEvent renders a comment_created or comment_updated webhook body
// for a comment of an issue, in Jira Cloud's webhook shape (the comment
// body as the plain text Jira sends in webhooks).
func (e *Emulator) CommentEvent(event, key, commentID string) []byte {
	is, _ := e.Issue(key)
	var c *Comment
	for _, cc := range is.Comments {
		if cc.ID == commentID {
			c = cc
		}
	}
	if c == nil {
		return nil
	}
	text, _ := adf.Text(c.Body)
	base := e.URL()
	p := map[string]any{
		"timestamp": time.Now().UnixMilli(), "webhookEvent": event,
		"comment": map[string]any{
			"self": base + "/rest/api/2/issue/" + is.ID + "/comment/" + c.ID, "id": c.ID,
			"author": map[string]any{"accountId": "acc-" + c.Author, "displayName": c.Author},
			"body":   strings.TrimRight(text, "\n"), "created": c.Created.Format("2006-01-02T15:04:05.000-0700"),
			"updated": c.Updated.Format("2006-01-02T15:04:05.000-0700"), "jsdPublic": true,
		},
		"issue": e.webhookIssue(&is, false),
	}
	b, _ := json.Marshal(p)
	return b
}

// IssueEvent renders a jira:issue_created or jira:issue_updated webhook
// body; adfDescription sends the description as ADF (as apps on REST v3
// receive it) instead of plain text.
func (e *Emulator) IssueEvent(event, key string, adfDescription bool) []byte {
	is, _ := e.Issue(key)
	p := map[string]any{
		"timestamp": time.Now().UnixMilli(), "webhookEvent": event,
		"issue_event_type_name": map[string]string{"jira:issue_created": "issue_created"}[event],
		"user":                  map[string]any{"accountId": "acc-reporter", "displayName": "reporter"},
		"issue":                 e.webhookIssue(&is, adfDescription),
	}
	if p["issue_event_type_name"] == "" {
		p["issue_event_type_name"] = "issue_generic"
	}
	b, _ := json.Marshal(p)
	return b
}

func (e *Emulator) webhookIssue(is *Issue, adfDescription bool) map[string]any {
	var desc any
	if len(is.Description) > 0 {
		if adfDescription {
			desc = json.RawMessage(is.Description)
		} else {
			s, _ := adf.Text(is.Description)
			desc = strings.TrimRight(s, "\n")
		}
	}
	labels := append([]string{}, is.Labels...) // Jira sends [] for none
	return map[string]any{
		"id": is.ID, "self": e.URL() + "/rest/api/2/issue/" + is.ID, "key": is.Key,
		"fields": map[string]any{
			"summary": is.Summary, "description": desc, "labels": labels,
			"project":   map[string]any{"id": "10001", "key": is.Project, "name": is.Project},
			"issuetype": map[string]any{"name": "Task"},
		},
	}
}
