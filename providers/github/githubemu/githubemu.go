// Package githubemu emulates the parts of GitHub's REST API that Firebreak
// uses, for tests and the demo, over real HTTP on emulator.Server (so tests
// can inject faults and read the recorded requests):
//
//   - GET /user ("Get the authenticated user"): 200 with the user and the
//     X-OAuth-Scopes header, 401 {"message":"Bad credentials",…} for an
//     unknown or revoked token, 401 "Requires authentication" without one,
//     403 "Resource not accessible by integration" for an installation token.
//   - GET /installation/repositories and DELETE /installation/token (Apps),
//     for installation tokens (ghs_).
//   - POST /credentials/revoke ("Revoke a list of credentials"):
//     unauthenticated only (403 with an Authorization header), 1..1000
//     strings in "credentials" (422 "Validation Failed" naming the field
//     otherwise), 202 for a valid list whether or not the tokens exist; ghp_,
//     github_pat_, gho_, ghu_ and ghr_ tokens are revoked. WithRevokeSpamGap
//     adds GitHub's other 422, "the endpoint has been spammed". A per-client limit (60 per hour by
//     default, as documented) answers 403 with X-RateLimit-Remaining: 0 and
//     X-RateLimit-Reset, GitHub's primary rate-limit answer; every response
//     carries the X-RateLimit-* headers.
//   - GET /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number} and
//     .../locations (Secret scanning), with the reference's field names and
//     page/per_page pagination with a Link header.
//   - GET /repos/{owner}/{repo}/contents/{path} (Repositories → Contents):
//     a file as {"type":"file","encoding":"base64","content",…}, 404 when
//     absent — for CODEOWNERS lookups; GET /repos/{owner}/{repo}/commits/{ref}
//     (Commits → "Get a commit"): {"sha","commit":{"author":{"name","email",
//     "date"}},"author":{"login"}} — for commit authors.
//   - POST and GET /repos/{owner}/{repo}/issues, POST
//     /repos/{owner}/{repo}/issues/{number}/comments (Issues): 201 with the
//     issue or comment; 404 for a repository the emulator does not have,
//     410 when its issues are disabled, 422 without a title.
//
// Errors have GitHub's shape {"message","documentation_url","status"}.
package githubemu

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
)

const docsBase = "https://docs.github.com/rest"

// Option configures an Emulator.
type Option func(*Emulator)

// WithRevokeRateLimit sets the credentials/revoke limit per client (by remote
// IP): n requests per window (default 60 per hour).
func WithRevokeRateLimit(n int, window time.Duration) Option {
	return func(e *Emulator) { e.revokeN, e.revokeWindow = n, window }
}

// WithRevokeSpamGap makes credentials/revoke answer a client (by remote IP)
// whose request follows its previous one by less than gap with 422 — GitHub's
// "Validation failed, or the endpoint has been spammed" — in GitHub's error
// shape with no errors naming the credentials field; the refused request
// starts a new gap. Off by default: GitHub documents the 422 but not the
// threshold, so any value here is a test's choice, not GitHub's number.
func WithRevokeSpamGap(gap time.Duration) Option {
	return func(e *Emulator) { e.spamGap = gap }
}

// WithAlertClock makes now the clock of alert timestamps (created_at,
// updated_at, resolved_at), so that a test can step time between an alert's
// changes without waiting: GitHub's timestamps have one-second precision.
func WithAlertClock(now func() time.Time) Option {
	return func(e *Emulator) { e.clock = now }
}

// Revocation is one token the emulator revoked.
type Revocation struct {
	Hint string // redacted hint of the token
	Via  string // "credentials/revoke" or "installation/token"
	At   time.Time
}

// Emulator is an in-memory GitHub behind real HTTP.
type Emulator struct {
	srv *emulator.Server

	mu           sync.Mutex
	tokens       map[string]*token
	alerts       map[string]map[int64]*alert // "owner/repo" → number → alert
	revocations  []Revocation
	revokePosts  int
	revokeN      int
	revokeWindow time.Duration
	clients      map[string]*window
	spamGap      time.Duration
	lastRevoke   map[string]time.Time // client IP → its previous credentials/revoke request
	nextUserID   int64
	clock        func() time.Time // alert timestamps (WithAlertClock); time.Now when nil

	depth                        // backfill listing, write-back, issues, App tokens, partner keys (depth.go)
	repos map[string]*repository // "owner/repo"
}

type token struct {
	raw, login string
	userID     int64
	scopes     string
	revoked    bool
	expires    time.Time // installation tokens made by the App exchange
}

type alert struct {
	number                   int64
	owner, repo              string
	secretType, display, raw string
	state, resolution        string
	validity                 string
	publiclyLeaked           bool
	created                  time.Time
	locations                []Location
	seq                      int64 // creation order, for listings (newest first)
	resolutionComment        string
	resolvedAt               time.Time
	resolvedBy               *token    // who resolved it through the API (nil: null)
	updated                  time.Time // updated_at: creation, then every change of state
}

type window struct {
	start time.Time
	n     int
}

// Location is an alert location to create. Type defaults to "commit"; for
// issue, pull request and discussion types set URL.
type Location struct {
	Type        string
	Path        string
	StartLine   int
	EndLine     int
	StartColumn int
	EndColumn   int
	CommitSHA   string
	BlobSHA     string
	URL         string
}

// New returns an emulator (not yet listening; call Start).
func New(opts ...Option) *Emulator {
	e := &Emulator{
		tokens:       map[string]*token{},
		alerts:       map[string]map[int64]*alert{},
		revokeN:      60,
		revokeWindow: time.Hour,
		clients:      map[string]*window{},
		lastRevoke:   map[string]time.Time{},
		nextUserID:   1000,
		repos:        map[string]*repository{},
	}
	e.initDepth()
	for _, o := range opts {
		o(e)
	}
	mux := http.NewServeMux()
	e.depthRoutes(mux)
	mux.HandleFunc("GET /user", e.getUser)
	mux.HandleFunc("GET /installation/repositories", e.installationRepos)
	mux.HandleFunc("DELETE /installation/token", e.deleteInstallationToken)
	mux.HandleFunc("POST /credentials/revoke", e.revokeCredentials)
	mux.HandleFunc("GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}", e.getAlert)
	mux.HandleFunc("GET /repos/{owner}/{repo}/secret-scanning/alerts/{number}/locations", e.listLocations)
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", e.getContents)
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}", e.getCommit)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues", e.createIssue)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues", e.listIssues)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found", docsBase)
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

// AddToken registers a new live token with prefix (github.PrefixPAT, …) for
// login and returns it. Tokens have valid checksums.
func (e *Emulator) AddToken(prefix, login string) string {
	raw := github.NewToken(prefix)
	e.AddTokenValue(raw, login)
	return raw
}

// AddTokenValue registers raw as a live token of login.
func (e *Emulator) AddTokenValue(raw, login string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextUserID++
	scopes := ""
	if strings.HasPrefix(raw, github.PrefixPAT) || strings.HasPrefix(raw, github.PrefixOAuth) {
		scopes = "repo, security_events"
	}
	e.tokens[raw] = &token{raw: raw, login: login, userID: e.nextUserID, scopes: scopes}
}

// Live reports whether raw is a registered, unrevoked token.
func (e *Emulator) Live(raw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tokens[raw]
	return t != nil && !t.revoked
}

// Revoked reports whether raw was registered and has been revoked.
func (e *Emulator) Revoked(raw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tokens[raw]
	return t != nil && t.revoked
}

// Revocations returns what was revoked, in order.
func (e *Emulator) Revocations() []Revocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Revocation(nil), e.revocations...)
}

// RevokePosts counts POST /credentials/revoke requests that reached the
// handler (faults injected before it are not counted).
func (e *Emulator) RevokePosts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.revokePosts
}

// AddAlert creates an open secret-scanning alert in owner/repo for the raw
// secret and returns its number. With no locations, one commit location is
// made up.
func (e *Emulator) AddAlert(owner, repo, secretType, raw string, locs ...Location) int64 {
	e.mu.Lock()
	n := int64(len(e.alerts[owner+"/"+repo]) + 1)
	e.mu.Unlock()
	return e.AddAlertNumber(owner, repo, n, secretType, raw, locs...)
}

// AddAlertNumber creates (or replaces) alert number n of owner/repo, for
// tests and the demo that post recorded webhook payloads naming that number.
func (e *Emulator) AddAlertNumber(owner, repo string, n int64, secretType, raw string, locs ...Location) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := owner + "/" + repo
	if e.alerts[key] == nil {
		e.alerts[key] = map[int64]*alert{}
	}
	if len(locs) == 0 {
		locs = []Location{{Type: "commit", Path: "config/settings.py", StartLine: 12, EndLine: 12, StartColumn: 15, EndColumn: 15 + len(raw)}}
	}
	for i := range locs {
		if locs[i].Type == "" {
			locs[i].Type = "commit"
		}
		if locs[i].Type == "commit" || locs[i].Type == "wiki_commit" {
			if locs[i].CommitSHA == "" {
				locs[i].CommitSHA = fakeSHA(fmt.Sprintf("commit %s %d %d", key, n, i))
			}
			if locs[i].BlobSHA == "" {
				locs[i].BlobSHA = fakeSHA(fmt.Sprintf("blob %s %d %d", key, n, i))
			}
		}
	}
	now := e.alertNow()
	e.alerts[key][n] = &alert{
		number: n, owner: owner, repo: repo, secretType: secretType, display: displayName(secretType), raw: raw,
		state: "open", validity: "unknown", created: now, updated: now, locations: locs,
		seq: e.nextSeq(),
	}
	return n
}

// ResolveAlert resolves an alert with a resolution (e.g. "revoked"), as if
// from GitHub's own UI by nobody the emulator knows (resolved_by null).
func (e *Emulator) ResolveAlert(owner, repo string, number int64, resolution string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.alerts[owner+"/"+repo][number]; a != nil {
		a.setState("resolved", resolution, "", nil, e.alertNow())
	}
}

// ReopenAlert reopens a resolved alert, as a person does in GitHub's UI:
// resolution, resolved_at and resolved_by are null again, updated_at moves.
// No webhook is sent (the emulator sends none).
func (e *Emulator) ReopenAlert(owner, repo string, number int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.alerts[owner+"/"+repo][number]; a != nil {
		a.setState("open", "", "", nil, e.alertNow())
	}
}

// setState moves an alert to state (open or resolved) at now, as "Update a
// secret scanning alert" does: resolving sets resolution, resolved_at,
// resolved_by and resolution_comment; reopening clears them all (null again,
// as in GitHub's reopened webhook payload). updated_at moves with every
// change. Callers hold e.mu.
func (a *alert) setState(state, resolution, comment string, by *token, now time.Time) {
	if state == "resolved" {
		if a.state == state && a.resolution == resolution && (comment == "" || comment == a.resolutionComment) {
			return
		}
		a.resolution, a.resolvedAt, a.resolvedBy = resolution, now, by
		if comment != "" {
			a.resolutionComment = comment
		}
	} else {
		if a.state == state {
			return
		}
		a.resolution, a.resolutionComment, a.resolvedAt, a.resolvedBy = "", "", time.Time{}, nil
	}
	a.state, a.updated = state, now
}

// alertNow is the time alert changes are stamped with (GitHub's timestamps
// have one-second precision).
func (e *Emulator) alertNow() time.Time {
	now := time.Now
	if e.clock != nil {
		now = e.clock
	}
	return now().UTC().Truncate(time.Second)
}

// SetValidity sets an alert's validity (active, inactive or unknown, the
// default) and whether the secret also leaked publicly.
func (e *Emulator) SetValidity(owner, repo string, number int64, validity string, publiclyLeaked bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.alerts[owner+"/"+repo][number]; a != nil {
		a.validity, a.publiclyLeaked = validity, publiclyLeaked
	}
}

func displayName(t string) string {
	switch t {
	case "openai_api_key":
		return "OpenAI API Key"
	case github.TypePAT:
		return "GitHub Personal Access Token"
	case github.TypeFineGrainedPAT:
		return "GitHub Fine-Grained Personal Access Token"
	case github.TypeOAuth:
		return "GitHub OAuth Access Token"
	}
	return strings.ReplaceAll(t, "_", " ")
}

func fakeSHA(s string) string {
	// Deterministic 40-hex string; not a real hash of anything.
	const hex = "0123456789abcdef"
	b := make([]byte, 40)
	h := uint64(1469598103934665603)
	for i := range b {
		for _, c := range []byte(s) {
			h = (h ^ uint64(c)) * 1099511628211
		}
		h = (h ^ uint64(i)) * 1099511628211
		b[i] = hex[h%16]
	}
	return string(b)
}

// ---- HTTP ----

// ErrorBody renders an injected fault in GitHub's error shape.
func ErrorBody(status int) (string, []byte) {
	msg := http.StatusText(status)
	if status == http.StatusUnauthorized {
		msg = "Bad credentials"
	}
	return "application/json; charset=utf-8", errorJSON(status, msg, docsBase)
}

func errorJSON(status int, msg, doc string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg, "documentation_url": doc, "status": strconv.Itoa(status)})
	return b
}

func writeError(w http.ResponseWriter, status int, msg, doc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(status, msg, doc))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearer extracts the token of "Authorization: Bearer X" or "token X".
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token "} {
		if t, ok := strings.CutPrefix(h, p); ok && strings.TrimSpace(t) != "" {
			return strings.TrimSpace(t), true
		}
	}
	return "", false
}

// authenticate answers 401 unless the request carries a live token.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request, doc string) *token {
	raw, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication", doc)
		return nil
	}
	e.mu.Lock()
	t := e.tokens[raw]
	live := t != nil && !t.revoked && (t.expires.IsZero() || time.Now().Before(t.expires))
	e.mu.Unlock()
	if !live {
		writeError(w, http.StatusUnauthorized, "Bad credentials", docsBase)
		return nil
	}
	return t
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/users/users#get-the-authenticated-user"
	t := e.authenticate(w, r, doc)
	if t == nil {
		return
	}
	if strings.HasPrefix(t.raw, github.PrefixInstallation) {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", doc)
		return
	}
	if t.scopes != "" {
		w.Header().Set("X-OAuth-Scopes", t.scopes)
	}
	base := "http://" + r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"login": t.login, "id": t.userID, "node_id": "U_" + strconv.FormatInt(t.userID, 36), "type": "User", "site_admin": false,
		"url": base + "/users/" + t.login, "html_url": "https://github.com/" + t.login, "name": t.login, "email": nil,
	})
}

func (e *Emulator) installationRepos(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/apps/installations#list-repositories-accessible-to-the-app-installation"
	t := e.authenticate(w, r, doc)
	if t == nil {
		return
	}
	if !strings.HasPrefix(t.raw, github.PrefixInstallation) {
		writeError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.", doc)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": 1, "repositories": []any{map[string]any{"id": 1, "name": "app-repo", "full_name": t.login + "/app-repo"}}})
}

func (e *Emulator) deleteInstallationToken(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/apps/installations#revoke-an-installation-access-token"
	t := e.authenticate(w, r, doc)
	if t == nil {
		return
	}
	if !strings.HasPrefix(t.raw, github.PrefixInstallation) {
		writeError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to revoke it.", doc)
		return
	}
	e.mu.Lock()
	t.revoked = true
	e.revocations = append(e.revocations, Revocation{Hint: hint(t.raw), Via: "installation/token", At: time.Now()})
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func hint(raw string) string {
	if len(raw) < 16 {
		return "…"
	}
	return raw[:4] + "…" + raw[len(raw)-4:]
}

// revokeLimit applies the per-client limit and sets the X-RateLimit headers;
// it writes the 403 and returns false when the client is over the limit.
func (e *Emulator) revokeLimit(w http.ResponseWriter, r *http.Request) bool {
	ip := clientIP(r)
	now := time.Now()
	e.mu.Lock()
	win := e.clients[ip]
	if win == nil || now.Sub(win.start) >= e.revokeWindow {
		win = &window{start: now}
		e.clients[ip] = win
	}
	win.n++
	used := win.n
	reset := win.start.Add(e.revokeWindow)
	e.mu.Unlock()
	remaining := max(e.revokeN-used, 0)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(e.revokeN))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(min(used, e.revokeN)))
	// Reset is in whole epoch seconds, as GitHub sends it; round up so a
	// client that waits until then finds the window renewed.
	h.Set("X-RateLimit-Reset", strconv.FormatInt((reset.UnixNano()+int64(time.Second)-1)/int64(time.Second), 10))
	h.Set("X-RateLimit-Resource", "core")
	if used <= e.revokeN {
		return true
	}
	writeError(w, http.StatusForbidden, "API rate limit exceeded for "+ip+". (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
		docsBase+"/overview/rate-limits-for-the-rest-api")
	return false
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// spammed records the client's request and reports whether it came within
// the spam gap of the client's previous one.
func (e *Emulator) spammed(r *http.Request) bool {
	ip, now := clientIP(r), time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, seen := e.lastRevoke[ip]
	e.lastRevoke[ip] = now
	return e.spamGap > 0 && seen && now.Sub(prev) < e.spamGap
}

func (e *Emulator) revokeCredentials(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/credentials/revoke#revoke-a-list-of-credentials"
	if r.Header.Get("Authorization") != "" {
		writeError(w, http.StatusForbidden, "This endpoint does not accept authenticated requests.", doc)
		return
	}
	if !e.revokeLimit(w, r) {
		return
	}
	e.mu.Lock()
	e.revokePosts++
	e.mu.Unlock()
	if e.spammed(r) {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed, or the endpoint has been spammed.", doc)
		return
	}
	var body struct {
		Credentials []string `json:"credentials"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	if len(body.Credentials) == 0 || len(body.Credentials) > github.MaxCredentialsPerRequest {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		b, _ := json.Marshal(map[string]any{
			"message": "Validation Failed", "documentation_url": doc, "status": "422",
			"errors": []any{map[string]string{"resource": "Credentials", "field": "credentials", "code": "invalid",
				"message": fmt.Sprintf("credentials must hold between 1 and %d items", github.MaxCredentialsPerRequest)}},
		})
		_, _ = w.Write(b)
		return
	}
	now := time.Now()
	e.mu.Lock()
	for _, raw := range body.Credentials {
		t := e.tokens[raw]
		if t == nil || t.revoked || strings.HasPrefix(raw, github.PrefixInstallation) {
			continue // accepted all the same: the endpoint does not say
		}
		t.revoked = true
		e.revocations = append(e.revocations, Revocation{Hint: hint(raw), Via: "credentials/revoke", At: now})
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{})
}

func (e *Emulator) findAlert(w http.ResponseWriter, r *http.Request, doc string) *alert {
	a, _ := e.findAlertAs(w, r, doc)
	return a
}

// findAlertAs is findAlert that also returns the token the request
// authenticated with.
func (e *Emulator) findAlertAs(w http.ResponseWriter, r *http.Request, doc string) (*alert, *token) {
	t := e.authenticate(w, r, doc)
	if t == nil || !e.coreLimit(w, t) {
		return nil, nil
	}
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	e.mu.Lock()
	a := e.alerts[r.PathValue("owner")+"/"+r.PathValue("repo")][n]
	e.mu.Unlock()
	if err != nil || a == nil {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return nil, nil
	}
	return a, t
}

func (e *Emulator) getAlert(w http.ResponseWriter, r *http.Request) {
	a := e.findAlert(w, r, docsBase+"/secret-scanning/secret-scanning#get-a-secret-scanning-alert")
	if a == nil {
		return
	}
	e.mu.Lock()
	body := alertBody("http://"+r.Host, a, false)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) listLocations(w http.ResponseWriter, r *http.Request) {
	a := e.findAlert(w, r, docsBase+"/secret-scanning/secret-scanning#list-locations-for-a-secret-scanning-alert")
	if a == nil {
		return
	}
	q := r.URL.Query()
	page, perPage := 1, 30
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	e.mu.Lock()
	locs := append([]Location(nil), a.locations...)
	e.mu.Unlock()
	from := min((page-1)*perPage, len(locs))
	to := min(from+perPage, len(locs))
	base := "http://" + r.Host
	var out []any
	for _, l := range locs[from:to] {
		out = append(out, locationJSON(base, a, l))
	}
	if out == nil {
		out = []any{}
	}
	last := max(1, (len(locs)+perPage-1)/perPage)
	var links []string
	link := func(p int, rel string) {
		links = append(links, fmt.Sprintf("<%s%s?per_page=%d&page=%d>; rel=%q", base, r.URL.Path, perPage, p, rel))
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
		link(page-1, "prev")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}

func locationJSON(base string, a *alert, l Location) map[string]any {
	repoAPI := base + "/repos/" + a.owner + "/" + a.repo
	switch l.Type {
	case "commit":
		return map[string]any{"type": "commit", "details": map[string]any{
			"path": l.Path, "start_line": l.StartLine, "end_line": l.EndLine, "start_column": l.StartColumn, "end_column": l.EndColumn,
			"blob_sha": l.BlobSHA, "blob_url": repoAPI + "/git/blobs/" + l.BlobSHA,
			"commit_sha": l.CommitSHA, "commit_url": repoAPI + "/git/commits/" + l.CommitSHA,
		}}
	case "wiki_commit":
		return map[string]any{"type": "wiki_commit", "details": map[string]any{
			"path": l.Path, "start_line": l.StartLine, "end_line": l.EndLine, "start_column": l.StartColumn, "end_column": l.EndColumn,
			"blob_sha": l.BlobSHA, "page_url": "https://github.com/" + a.owner + "/" + a.repo + "/wiki/Home/" + l.CommitSHA,
			"commit_sha": l.CommitSHA, "commit_url": "https://github.com/" + a.owner + "/" + a.repo + "/wiki/_compare/" + l.CommitSHA,
		}}
	default:
		return map[string]any{"type": l.Type, "details": map[string]any{l.Type + "_url": l.URL}}
	}
}

// Alerts lists the numbers of owner/repo's alerts (for tests).
func (e *Emulator) Alerts(owner, repo string) []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ns []int64
	for n := range e.alerts[owner+"/"+repo] {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns
}
