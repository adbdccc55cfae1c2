// Package openaiemu emulates the parts of OpenAI's HTTP API that Firebreak
// uses, for tests and the demo: an in-memory organization with projects,
// users' and service accounts' project API keys and admin keys, served over
// real HTTP on emulator.Server (so tests can inject faults and read the
// recorded requests).
//
// Shapes follow OpenAI's API reference
// (https://platform.openai.com/docs/api-reference): the Projects, Project API
// keys, Project service accounts and Admin API keys pages of the
// Administration section (paths, list envelopes with first_id/last_id/has_more,
// limit 1..100 defaulting to 20, the after cursor, include_archived, the
// project-key listing's owner_project_access filter and the keys'
// owner_project_access and expires_at fields), and the error body {"error":{"message","type","param","code"}}. Messages for 401
// (invalid_api_key, missing key, missing scopes) and 429 (rate_limit_exceeded)
// are the ones OpenAI sends. GET /v1/me is not in the reference; it answers the
// user object the dashboard reads (object "user", id, email, name, orgs).
//
// Where the reference is silent the emulator chooses and says so: an unknown
// project or key is a 404 with type invalid_request_error; a project key on an
// admin endpoint is refused with the 401 "insufficient permissions" message
// OpenAI gives restricted keys; a key whose owner lost project access keeps
// working, is fetched and deleted by id like any other, and is hidden only
// from the key listing's default view (see listKeys); expires_at is reported,
// not enforced.
package openaiemu

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
)

// Marker is the base64 of "OpenAI" that every OpenAI secret key carries.
const Marker = "T3BlbkFJ"

// Owner types of a project API key.
const (
	OwnerUser           = "user"
	OwnerServiceAccount = "service_account"
)

// Owner describes who owns a key being added.
type Owner struct {
	Type  string // OwnerUser (default) or OwnerServiceAccount
	Name  string // user or service-account name
	Email string // user email
}

// Deletion is one delete the emulator performed.
type Deletion struct {
	Kind      string // "api_key", "service_account" or "admin_api_key"
	ProjectID string
	ID        string // the deleted object's id
	KeyIDs    []string
	At        time.Time
}

// Option configures an Emulator.
type Option func(*Emulator)

// WithRedactor sets how redacted_value is derived from a raw key. The default
// shows the key's format prefix and its last four characters, "sk-proj-...9f2c".
func WithRedactor(f func(raw string) string) Option { return func(e *Emulator) { e.redact = f } }

// WithRateLimit answers 429 rate_limit_exceeded, with retry-after and the
// x-ratelimit-*-requests headers, once a key has sent n requests within per.
func WithRateLimit(n int, per time.Duration) Option {
	return func(e *Emulator) { e.rateN, e.ratePer = n, per }
}

// WithOrg names the organization /v1/me reports.
func WithOrg(id, title string) Option { return func(e *Emulator) { e.orgID, e.orgTitle = id, title } }

// Emulator is an in-memory OpenAI organization behind real HTTP.
type Emulator struct {
	srv *emulator.Server

	mu        sync.Mutex
	seq       int64
	orgID     string
	orgTitle  string
	projects  []*project
	keys      map[string]*key // by raw value, including deleted keys
	byID      map[string]*key // the same keys by id
	seqOf     map[string]int64
	admin     []*key
	deletions []Deletion
	creations []Creation
	redact    func(string) string
	rateN     int
	ratePer   time.Duration
	windows   map[string]*window
}

type project struct {
	id, name   string
	created    int64
	archivedAt int64
	keys       []*key
	accounts   map[string]*serviceAccount
}

type serviceAccount struct {
	id, name string
	created  int64
	key      *key
}

type key struct {
	id, raw, name string
	seq           int64
	created       int64
	project       *project
	owner         Owner
	userID        string
	sa            *serviceAccount
	admin         bool
	deleted       bool
	// ownerInactive: the key's owner no longer has access to its project
	// (owner_project_access "inactive"); the key is still enabled.
	ownerInactive bool
	expiresAt     int64 // unix seconds; 0: no expiry (expires_at omitted)
}

type window struct {
	start time.Time
	n     int
}

// New returns an emulator (not yet listening; call Start).
func New(opts ...Option) *Emulator {
	e := &Emulator{
		keys:     map[string]*key{},
		byID:     map[string]*key{},
		seqOf:    map[string]int64{},
		redact:   DefaultRedact,
		orgID:    "org-" + randomString(24, alnum),
		orgTitle: "Emulated Org",
		windows:  map[string]*window{},
	}
	for _, o := range opts {
		o(e)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/me", e.getMe)
	mux.HandleFunc("GET /v1/organization/projects", e.adminOnly(e.listProjects))
	mux.HandleFunc("GET /v1/organization/projects/{project}", e.adminOnly(e.getProject))
	mux.HandleFunc("GET /v1/organization/projects/{project}/api_keys", e.adminOnly(e.listKeys))
	mux.HandleFunc("GET /v1/organization/projects/{project}/api_keys/{key}", e.adminOnly(e.getKey))
	mux.HandleFunc("DELETE /v1/organization/projects/{project}/api_keys/{key}", e.adminOnly(e.deleteKey))
	mux.HandleFunc("GET /v1/organization/projects/{project}/service_accounts", e.adminOnly(e.listServiceAccounts))
	mux.HandleFunc("POST /v1/organization/projects/{project}/service_accounts", e.adminOnly(e.createServiceAccount))
	mux.HandleFunc("DELETE /v1/organization/projects/{project}/service_accounts/{sa}", e.adminOnly(e.deleteServiceAccount))
	mux.HandleFunc("GET /v1/organization/admin_api_keys", e.adminOnly(e.listAdminKeys))
	mux.HandleFunc("DELETE /v1/organization/admin_api_keys/{key}", e.adminOnly(e.deleteAdminKey))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "")
	})
	e.srv = emulator.New(mux, ErrorBody)
	return e
}

// Server is the recording, fault-injecting server underneath.
func (e *Emulator) Server() *emulator.Server { return e.srv }

// Start serves on a loopback port and returns the base URL (no /v1 suffix).
func (e *Emulator) Start() string { return e.srv.Start() }

// URL is the base URL once started.
func (e *Emulator) URL() string { return e.srv.URL() }

// Close stops the server.
func (e *Emulator) Close() { e.srv.Close() }

// OrgID is the organization id /v1/me reports.
func (e *Emulator) OrgID() string { return e.orgID }

// DefaultRedact shows the key's format prefix and its last four characters.
func DefaultRedact(raw string) string {
	prefix := "sk-"
	for _, p := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-"} {
		if strings.HasPrefix(raw, p) {
			prefix = p
		}
	}
	if len(raw) < len(prefix)+8 {
		return prefix + "..."
	}
	return prefix + "..." + raw[len(raw)-4:]
}

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	keyBody = alnum + "-_"
)

// randomString is n characters drawn uniformly from alphabet (at most 256
// characters): random bytes, those past the largest multiple of the
// alphabet's length rejected so that none is likelier than another.
func randomString(n int, alphabet string) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	var buf [128]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// NewKeyValue returns a fresh, real-looking secret key with the given prefix
// ("sk-proj-", "sk-svcacct-", "sk-admin-"): 74 characters, the T3BlbkFJ
// marker, 74 characters.
func NewKeyValue(prefix string) string {
	return prefix + randomString(74, keyBody) + Marker + randomString(74, keyBody)
}

func (e *Emulator) nextSeq() int64 { e.seq++; return e.seq }

// AddProject creates an active project and returns its id.
func (e *Emulator) AddProject(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &project{id: "proj_" + randomString(24, alnum), name: name, created: time.Now().Unix(), accounts: map[string]*serviceAccount{}}
	e.seqOf[p.id] = e.nextSeq()
	e.projects = append(e.projects, p)
	return p.id
}

// ArchiveProject archives a project: it drops out of default listings and
// its keys stop working.
func (e *Emulator) ArchiveProject(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.project(id); p != nil {
		p.archivedAt = time.Now().Unix()
	}
}

// AddKey creates a key in project for owner and returns its raw value and id.
// A service-account owner gets a new service account holding that one key
// (as POST .../service_accounts does); its keys start sk-svcacct-.
func (e *Emulator) AddKey(projectID string, o Owner) (raw, keyID string) {
	prefix := "sk-proj-"
	if o.Type == OwnerServiceAccount {
		prefix = "sk-svcacct-"
	}
	raw = NewKeyValue(prefix)
	return raw, e.AddKeyValue(projectID, raw, o)
}

// AddKeyValue creates a key with the given raw value (tests use it to make
// two keys with the same redacted form). It panics on an unknown project.
func (e *Emulator) AddKeyValue(projectID, raw string, o Owner) (keyID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.project(projectID)
	if p == nil {
		panic("openaiemu: unknown project " + projectID)
	}
	if o.Type == "" {
		o.Type = OwnerUser
	}
	if o.Name == "" {
		o.Name = "Emulated " + o.Type
	}
	k := &key{id: "key_" + randomString(16, alnum), raw: raw, name: "Secret key", created: time.Now().Unix(), project: p, owner: o}
	k.seq = e.nextSeq()
	e.seqOf[k.id] = k.seq
	switch o.Type {
	case OwnerServiceAccount:
		sa := &serviceAccount{id: "svc_acct_" + randomString(16, alnum), name: o.Name, created: k.created, key: k}
		e.seqOf[sa.id] = e.nextSeq()
		p.accounts[sa.id] = sa
		k.sa = sa
	default:
		if o.Email == "" {
			o.Email = strings.ToLower(strings.ReplaceAll(o.Name, " ", ".")) + "@example.com"
			k.owner.Email = o.Email
		}
		k.userID = "user-" + randomString(24, alnum)
	}
	p.keys = append(p.keys, k)
	e.keys[raw] = k
	e.byID[k.id] = k
	return k.id
}

// AddAdminKey creates an organization admin key and returns it and its id.
func (e *Emulator) AddAdminKey(name string) (raw, keyID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	raw = NewKeyValue("sk-admin-")
	k := &key{id: "key_" + randomString(16, alnum), raw: raw, name: name, created: time.Now().Unix(), admin: true,
		owner: Owner{Type: OwnerUser, Name: "Org Owner"}}
	k.seq = e.nextSeq()
	e.seqOf[k.id] = k.seq
	e.admin = append(e.admin, k)
	e.keys[raw] = k
	e.byID[k.id] = k
	return raw, k.id
}

// SetOwnerAccess sets whether the owner of project key keyID currently has
// access to its project (owner_project_access "active" or "inactive"), as
// when a user is removed from the project while their key stays enabled.
// Keys start active. It panics on an unknown key id.
func (e *Emulator) SetOwnerAccess(keyID string, active bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.projectKey(keyID).ownerInactive = !active
}

// SetExpiresAt sets when project key keyID expires (its expires_at); the
// zero time removes the expiry. The emulator reports it and does not enforce
// it. It panics on an unknown key id.
func (e *Emulator) SetExpiresAt(keyID string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.projectKey(keyID)
	k.expiresAt = 0
	if !at.IsZero() {
		k.expiresAt = at.Unix()
	}
}

// projectKey returns the project key with this id; e.mu is held.
func (e *Emulator) projectKey(id string) *key {
	if k := e.byID[id]; k != nil && !k.admin {
		return k
	}
	panic("openaiemu: unknown project key " + id)
}

// KeyExists reports whether a key (project or admin) with this id exists and
// is not deleted.
func (e *Emulator) KeyExists(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.byID[id]
	return k != nil && !k.deleted
}

// Live reports whether raw is a key the API accepts now.
func (e *Emulator) Live(raw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.keys[raw]
	return k != nil && k.usable()
}

// Deletions returns every delete performed, in order.
func (e *Emulator) Deletions() []Deletion {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Deletion(nil), e.deletions...)
}

func (k *key) usable() bool {
	return !k.deleted && (k.admin || k.project.archivedAt == 0)
}

func (e *Emulator) project(id string) *project {
	for _, p := range e.projects {
		if p.id == id {
			return p
		}
	}
	return nil
}

// ---- HTTP ----

// ErrorBody renders an injected fault in OpenAI's error shape.
func ErrorBody(status int) (string, []byte) {
	msg, typ, code := http.StatusText(status), "invalid_request_error", ""
	switch {
	case status == http.StatusTooManyRequests:
		msg, typ, code = "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"
	case status == http.StatusUnauthorized:
		msg, code = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_api_key"
	case status == http.StatusServiceUnavailable:
		msg, typ = "The server is overloaded or not ready yet.", "server_error"
	case status >= 500:
		msg, typ = "The server had an error while processing your request. Sorry about that!", "server_error"
	}
	return "application/json", errorJSON(msg, typ, code, "")
}

// errorJSON renders OpenAI's error body; an empty code or param is null.
func errorJSON(msg, typ, code, param string) []byte {
	var c, p any
	if code != "" {
		c = code
	}
	if param != "" {
		p = param
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": c}})
	return b
}

func writeError(w http.ResponseWriter, status int, msg, typ, code string) {
	writeErrorParam(w, status, msg, typ, code, "")
}

// writeErrorParam is writeError naming the request parameter at fault.
func writeErrorParam(w http.ResponseWriter, status int, msg, typ, code, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(msg, typ, code, param))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// mask renders a refused key the way OpenAI's 401 message does: its first
// characters and last four, the middle starred.
func mask(raw string) string {
	if len(raw) <= 12 {
		return strings.Repeat("*", len(raw))
	}
	head := 3
	for _, p := range []string{"sk-proj-", "sk-svcacct-", "sk-admin-"} {
		if strings.HasPrefix(raw, p) {
			head = len(p)
		}
	}
	return raw[:head] + strings.Repeat("*", 12) + raw[len(raw)-4:]
}

// authenticate resolves the bearer key; it writes the 401 and returns nil when
// the request carries no usable key.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) *key {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		writeError(w, http.StatusUnauthorized, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", "invalid_request_error", "")
		return nil
	}
	e.mu.Lock()
	k := e.keys[raw]
	usable := k != nil && k.usable()
	e.mu.Unlock()
	if !usable {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+mask(raw)+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
		return nil
	}
	if e.limited(w, raw) {
		return nil
	}
	return k
}

// limited applies WithRateLimit; it writes the 429 when over the limit.
func (e *Emulator) limited(w http.ResponseWriter, raw string) bool {
	if e.rateN <= 0 {
		return false
	}
	e.mu.Lock()
	now := time.Now()
	win := e.windows[raw]
	if win == nil || now.Sub(win.start) >= e.ratePer {
		win = &window{start: now}
		e.windows[raw] = win
	}
	win.n++
	n := win.n
	reset := win.start.Add(e.ratePer).Sub(now)
	e.mu.Unlock()
	remaining := e.rateN - n
	if remaining < 0 {
		remaining = 0
	}
	w.Header().Set("x-ratelimit-limit-requests", strconv.Itoa(e.rateN))
	w.Header().Set("x-ratelimit-remaining-requests", strconv.Itoa(remaining))
	w.Header().Set("x-ratelimit-reset-requests", reset.Round(time.Millisecond).String())
	if n <= e.rateN {
		return false
	}
	secs := int(reset/time.Second) + 1
	w.Header().Set("retry-after", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("Rate limit reached for requests in organization %s on requests per min (RPM): Limit %d. Please try again in %ds.", e.orgID, e.rateN, secs), "requests", "rate_limit_exceeded")
	return true
}

// adminOnly wraps an Administration endpoint: only admin keys pass.
func (e *Emulator) adminOnly(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := e.authenticate(w, r)
		if k == nil {
			return
		}
		if !k.admin {
			scope := "api.management.read"
			if r.Method != http.MethodGet {
				scope = "api.management.write"
			}
			writeError(w, http.StatusUnauthorized, "You have insufficient permissions for this operation. Missing scopes: "+scope+". Check that you have the correct role in your organization (Owner), and if you're using a restricted API key, that it has the necessary scopes.", "invalid_request_error", "")
			return
		}
		h(w, r)
	}
}

func (e *Emulator) getMe(w http.ResponseWriter, r *http.Request) {
	k := e.authenticate(w, r)
	if k == nil {
		return
	}
	if k.admin {
		writeError(w, http.StatusUnauthorized, "You have insufficient permissions for this operation. Missing scopes: api.model.read. Admin API keys cannot be used for non-administration endpoints.", "invalid_request_error", "")
		return
	}
	e.mu.Lock()
	id, name, email := k.userID, k.owner.Name, k.owner.Email
	if k.sa != nil {
		id = "user-" + strings.TrimPrefix(k.sa.id, "svc_acct_")
	}
	projectID, projectTitle := k.project.id, k.project.name
	e.mu.Unlock()
	writeJSON(w, map[string]any{
		"object": "user", "id": id, "email": email, "name": name, "picture": nil,
		"created": k.created, "phone_number": nil, "mfa_flag_enabled": false, "amr": []any{},
		"orgs": map[string]any{"object": "list", "data": []any{map[string]any{
			"object": "organization", "id": e.orgID, "created": k.created, "title": e.orgTitle,
			"name": "user-" + strings.ToLower(e.orgID[4:]), "description": "Personal org for " + name,
			"personal": false, "is_default": true, "role": "owner",
			"projects": map[string]any{"object": "list", "data": []any{map[string]any{"id": projectID, "object": "project", "title": projectTitle}}},
		}}},
	})
}

// page applies limit/after to ids ordered by creation; it writes a 400 for a
// bad limit.
func (e *Emulator) page(w http.ResponseWriter, r *http.Request, n int, idAt func(int) string) (from, to int, ok bool) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			writeError(w, http.StatusBadRequest, "Invalid 'limit': expected an integer between 1 and 100, got "+strconv.Quote(s)+".", "invalid_request_error", "")
			return 0, 0, false
		}
		limit = v
	}
	from = 0
	if after := r.URL.Query().Get("after"); after != "" {
		e.mu.Lock()
		s, known := e.seqOf[after]
		e.mu.Unlock()
		if !known {
			writeError(w, http.StatusBadRequest, "Invalid 'after': no object with id "+strconv.Quote(after)+".", "invalid_request_error", "")
			return 0, 0, false
		}
		// The cursor is a position: it stays valid after its object is deleted.
		from = sort.Search(n, func(i int) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.seqOf[idAt(i)] > s
		})
	}
	to = min(from+limit, n)
	return from, to, true
}

func listBody(data []any, ids []string, hasMore bool) map[string]any {
	if data == nil {
		data = []any{}
	}
	out := map[string]any{"object": "list", "data": data, "has_more": hasMore, "first_id": nil, "last_id": nil}
	if len(ids) > 0 {
		out["first_id"], out["last_id"] = ids[0], ids[len(ids)-1]
	}
	return out
}

func projectJSON(p *project) map[string]any {
	status, archived := "active", any(nil)
	if p.archivedAt != 0 {
		status, archived = "archived", p.archivedAt
	}
	return map[string]any{"id": p.id, "object": "organization.project", "name": p.name, "created_at": p.created, "archived_at": archived, "status": status}
}

func (e *Emulator) listProjects(w http.ResponseWriter, r *http.Request) {
	includeArchived := r.URL.Query().Get("include_archived") == "true"
	e.mu.Lock()
	var ps []*project
	for _, p := range e.projects {
		if p.archivedAt == 0 || includeArchived {
			ps = append(ps, p)
		}
	}
	e.mu.Unlock()
	from, to, ok := e.page(w, r, len(ps), func(i int) string { return ps[i].id })
	if !ok {
		return
	}
	e.mu.Lock()
	var data []any
	var ids []string
	for _, p := range ps[from:to] {
		data = append(data, projectJSON(p))
		ids = append(ids, p.id)
	}
	e.mu.Unlock()
	writeJSON(w, listBody(data, ids, to < len(ps)))
}

func (e *Emulator) lookupProject(w http.ResponseWriter, r *http.Request) *project {
	id := r.PathValue("project")
	e.mu.Lock()
	p := e.project(id)
	e.mu.Unlock()
	if p == nil {
		writeError(w, http.StatusNotFound, "No such project: '"+id+"'", "invalid_request_error", "")
	}
	return p
}

func (e *Emulator) getProject(w http.ResponseWriter, r *http.Request) {
	if p := e.lookupProject(w, r); p != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		writeJSON(w, projectJSON(p))
	}
}

func (e *Emulator) keyJSON(k *key) map[string]any {
	owner := map[string]any{"type": k.owner.Type}
	if k.sa != nil {
		owner["service_account"] = map[string]any{"object": "organization.project.service_account", "id": k.sa.id, "name": k.sa.name, "role": "member", "created_at": k.sa.created}
	} else {
		owner["user"] = map[string]any{"object": "organization.project.user", "id": k.userID, "name": k.owner.Name, "email": k.owner.Email, "role": "owner", "added_at": k.created}
	}
	access := AccessActive
	if k.ownerInactive {
		access = AccessInactive
	}
	out := map[string]any{
		"object": "organization.project.api_key", "redacted_value": e.redact(k.raw), "name": k.name,
		"created_at": k.created, "last_used_at": nil, "id": k.id, "owner": owner,
		"owner_project_access": access,
	}
	if k.expiresAt != 0 {
		out["expires_at"] = k.expiresAt // an optional field: absent when the key does not expire
	}
	return out
}

// Values of owner_project_access: on a key, whether its owner currently has
// access to its project; as the key listing's filter, AccessAny too.
const (
	AccessActive   = "active"
	AccessInactive = "inactive"
	AccessAny      = "any"
)

// liveKeys returns p's keys that are not deleted and pass the listing's
// owner_project_access filter (AccessActive, AccessInactive or AccessAny).
func liveKeys(p *project, access string) []*key {
	var out []*key
	for _, k := range p.keys {
		if k.deleted {
			continue
		}
		if (access == AccessActive && k.ownerInactive) || (access == AccessInactive && !k.ownerInactive) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// listKeys serves the project key listing. owner_project_access filters by
// whether each key's owner currently has access to the project: "active",
// "inactive", or "any" (every enabled key). When it is omitted OpenAI
// "applies the existing membership-based visibility rules, which may exclude
// some enabled keys"; the emulator models that as the simplest such rule:
// only keys whose owner has active access, i.e. the same as "active". Any
// other value, the empty one included, is a 400 naming the parameter.
func (e *Emulator) listKeys(w http.ResponseWriter, r *http.Request) {
	p := e.lookupProject(w, r)
	if p == nil {
		return
	}
	access := AccessActive
	if q := r.URL.Query(); q.Has("owner_project_access") {
		access = q.Get("owner_project_access")
		switch access {
		case AccessActive, AccessInactive, AccessAny:
		default:
			writeErrorParam(w, http.StatusBadRequest, "Invalid value for 'owner_project_access': expected one of 'active', 'inactive' or 'any', got "+strconv.Quote(access)+".",
				"invalid_request_error", "", "owner_project_access")
			return
		}
	}
	e.mu.Lock()
	ks := liveKeys(p, access)
	e.mu.Unlock()
	from, to, ok := e.page(w, r, len(ks), func(i int) string { return ks[i].id })
	if !ok {
		return
	}
	e.mu.Lock()
	var data []any
	var ids []string
	for _, k := range ks[from:to] {
		data = append(data, e.keyJSON(k))
		ids = append(ids, k.id)
	}
	e.mu.Unlock()
	writeJSON(w, listBody(data, ids, to < len(ks)))
}

func (e *Emulator) findKey(w http.ResponseWriter, r *http.Request) (*project, *key) {
	p := e.lookupProject(w, r)
	if p == nil {
		return nil, nil
	}
	id := r.PathValue("key")
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := e.byID[id]; k != nil && k.project == p && !k.deleted {
		return p, k
	}
	writeError(w, http.StatusNotFound, "No such API key: '"+id+"' in project '"+p.id+"'", "invalid_request_error", "")
	return nil, nil
}

func (e *Emulator) getKey(w http.ResponseWriter, r *http.Request) {
	if _, k := e.findKey(w, r); k != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		writeJSON(w, e.keyJSON(k))
	}
}

func (e *Emulator) deleteKey(w http.ResponseWriter, r *http.Request) {
	p, k := e.findKey(w, r)
	if k == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if k.sa != nil {
		writeError(w, http.StatusBadRequest, "API keys owned by a service account cannot be deleted; delete the service account '"+k.sa.id+"' instead.", "invalid_request_error", "")
		return
	}
	k.deleted = true
	e.deletions = append(e.deletions, Deletion{Kind: "api_key", ProjectID: p.id, ID: k.id, KeyIDs: []string{k.id}, At: time.Now()})
	writeJSON(w, map[string]any{"object": "organization.project.api_key.deleted", "id": k.id, "deleted": true})
}

func (e *Emulator) listServiceAccounts(w http.ResponseWriter, r *http.Request) {
	p := e.lookupProject(w, r)
	if p == nil {
		return
	}
	e.mu.Lock()
	var sas []*serviceAccount
	for _, sa := range p.accounts {
		sas = append(sas, sa)
	}
	sort.Slice(sas, func(i, j int) bool { return e.seqOf[sas[i].id] < e.seqOf[sas[j].id] })
	e.mu.Unlock()
	from, to, ok := e.page(w, r, len(sas), func(i int) string { return sas[i].id })
	if !ok {
		return
	}
	var data []any
	var ids []string
	for _, sa := range sas[from:to] {
		data = append(data, map[string]any{"object": "organization.project.service_account", "id": sa.id, "name": sa.name, "role": "member", "created_at": sa.created})
		ids = append(ids, sa.id)
	}
	writeJSON(w, listBody(data, ids, to < len(sas)))
}

func (e *Emulator) deleteServiceAccount(w http.ResponseWriter, r *http.Request) {
	p := e.lookupProject(w, r)
	if p == nil {
		return
	}
	id := r.PathValue("sa")
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.archivedAt != 0 {
		writeError(w, http.StatusBadRequest, "Project '"+p.id+"' is archived and has no service accounts.", "invalid_request_error", "")
		return
	}
	sa := p.accounts[id]
	if sa == nil {
		writeError(w, http.StatusNotFound, "No such service account: '"+id+"'", "invalid_request_error", "")
		return
	}
	delete(p.accounts, id)
	sa.key.deleted = true
	e.deletions = append(e.deletions, Deletion{Kind: "service_account", ProjectID: p.id, ID: sa.id, KeyIDs: []string{sa.key.id}, At: time.Now()})
	writeJSON(w, map[string]any{"object": "organization.project.service_account.deleted", "id": sa.id, "deleted": true})
}

func (e *Emulator) listAdminKeys(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	var ks []*key
	for _, k := range e.admin {
		if !k.deleted {
			ks = append(ks, k)
		}
	}
	e.mu.Unlock()
	from, to, ok := e.page(w, r, len(ks), func(i int) string { return ks[i].id })
	if !ok {
		return
	}
	var data []any
	var ids []string
	for _, k := range ks[from:to] {
		data = append(data, map[string]any{
			"object": "organization.admin_api_key", "id": k.id, "name": k.name, "redacted_value": e.redact(k.raw),
			"created_at": k.created, "last_used_at": nil,
			"owner": map[string]any{"type": "user", "object": "organization.user", "id": "user_owner", "name": k.owner.Name, "created_at": k.created, "role": "owner"},
		})
		ids = append(ids, k.id)
	}
	writeJSON(w, listBody(data, ids, to < len(ks)))
}

func (e *Emulator) deleteAdminKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("key")
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.admin {
		if k.id == id && !k.deleted {
			k.deleted = true
			e.deletions = append(e.deletions, Deletion{Kind: "admin_api_key", ID: k.id, KeyIDs: []string{k.id}, At: time.Now()})
			writeJSON(w, map[string]any{"object": "organization.admin_api_key.deleted", "id": k.id, "deleted": true})
			return
		}
	}
	writeError(w, http.StatusNotFound, "No such admin API key: '"+id+"'", "invalid_request_error", "")
}
