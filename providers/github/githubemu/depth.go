package githubemu

// The rest of the emulator: what the backfill poller, the write-back steps,
// ticket redaction, GitHub App authentication and the partner program use.
// Shapes follow GitHub's REST reference (API version 2022-11-28):
//
//   - Secret scanning → "List secret scanning alerts for a repository / an
//     organization / an enterprise": GET /repos/{owner}/{repo}/secret-scanning/alerts,
//     GET /orgs/{org}/secret-scanning/alerts, GET /enterprises/{enterprise}/secret-scanning/alerts;
//     newest first; state, per_page (max 100), page (offset pagination, Link
//     rel="next"/"last"/"first"/"prev" with page=), and before/after cursors
//     ("A cursor, as given in the Link header"; with WithCursorPagination the
//     Link header hands out after=/before= cursors, as GitHub Enterprise
//     Cloud does). Organization and enterprise listings carry "repository".
//   - "Update a secret scanning alert": PATCH …/secret-scanning/alerts/{n}
//     {"state","resolution","resolution_comment"}; 422 for a resolved state
//     without a valid resolution (false_positive, wont_fix, revoked,
//     used_in_tests). Resolving sets resolution, resolved_at, resolved_by
//     (the token's user, a simple-user) and resolution_comment; reopening
//     (state open) sets them all to null again, as GitHub's reopened
//     webhook payload shows them; updated_at ("the time that the alert was
//     last updated") moves with each change, created_at never.
//   - Rate limits ("Rate limits for the REST API"): every alert and issue
//     response carries X-RateLimit-Limit/Remaining/Used/Reset/Resource; with
//     WithCoreRateLimit a token past its budget gets 403 {"message":"API rate
//     limit exceeded for user ID …"} with X-RateLimit-Remaining: 0 (the
//     primary limit). Secondary limits are injected as faults (403/429 with
//     Retry-After and a secondary-rate-limits documentation_url).
//   - Meta → "Get GitHub meta information" for secret scanning partners:
//     GET /meta/public_keys/secret_scanning →
//     {"public_keys":[{"key_identifier","key" (PEM, ECDSA P-256),"is_current"}]};
//     SignPartner signs a partner-program payload the way GitHub does
//     (ECDSA P-256 / SHA-256 over the raw body, base64 of the ASN.1 DER
//     signature), sent as Github-Public-Key-Signature with
//     Github-Public-Key-Identifier.
//   - Apps → "Create an installation access token for an app":
//     POST /app/installations/{installation_id}/access_tokens with
//     "Authorization: Bearer <JWT>"; the JWT must be RS256-signed by the App's
//     key with iss = the App ID, iat/exp present and exp at most ten minutes
//     after iat ("'Expiration time' claim ('exp') is too far in the future"),
//     else 401 "A JSON web token could not be decoded"; 201 {"token":"ghs_…",
//     "expires_at","permissions","repository_selection"}.
//   - Issues: GET/PATCH /repos/{owner}/{repo}/issues/{n}; GET/PATCH
//     /repos/{owner}/{repo}/issues/comments/{id}; GET/POST
//     /repos/{owner}/{repo}/issues/{n}/comments (201).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/firebreak-sec/firebreak/providers/github"
)

type depth struct {
	seq          int64
	coreN        int
	coreWindow   time.Duration
	core         map[string]*window // by token
	cursorMode   bool
	enterprises  map[string][]string // enterprise → orgs
	apps         map[string]*app     // by app id
	installs     map[int64]*app
	instTTL      time.Duration
	partnerKeys  []*partnerKey
	keyFetches   int
	issues       map[string]*issue // "owner/repo#n"
	comments     map[int64]*comment
	nextComment  int64
	tokenExch    int
	listRequests int
}

type app struct {
	id           string
	installation int64
	key          *rsa.PrivateKey
	owner        string
}

type partnerKey struct {
	id      string
	priv    *ecdsa.PrivateKey
	pemPub  string
	current bool
}

type issue struct {
	owner, repo string
	number      int
	title, body string
	comments    []int64
	labels      []string
	assignees   []string
	state       string // "open" (default) or "closed"
	author      string // "dev-alice" unless created through the API
}

type comment struct {
	id          int64
	owner, repo string
	issue       int
	body        string
	author      string
}

func (e *Emulator) initDepth() {
	e.depth = depth{
		core: map[string]*window{}, enterprises: map[string][]string{}, apps: map[string]*app{},
		installs: map[int64]*app{}, instTTL: time.Hour, issues: map[string]*issue{}, comments: map[int64]*comment{},
		nextComment: 900000,
	}
	e.addPartnerKey()
}

// WithCoreRateLimit limits every token to n alert and issue requests per
// window (GitHub's primary rate limit). The default is GitHub's for a user
// token: 5000 an hour.
func WithCoreRateLimit(n int, window time.Duration) Option {
	return func(e *Emulator) { e.coreN, e.coreWindow = n, window }
}

// WithCursorPagination makes alert listings hand out after/before cursors
// in their Link headers instead of page numbers.
func WithCursorPagination() Option { return func(e *Emulator) { e.cursorMode = true } }

// WithInstallationTokenTTL sets how long App installation tokens live
// (default one hour, as on GitHub).
func WithInstallationTokenTTL(d time.Duration) Option { return func(e *Emulator) { e.instTTL = d } }

func (e *Emulator) nextSeq() int64 { e.seq++; return e.seq }

func (e *Emulator) depthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /repos/{owner}/{repo}/secret-scanning/alerts", e.listRepoAlerts)
	mux.HandleFunc("GET /orgs/{org}/secret-scanning/alerts", e.listOrgAlerts)
	mux.HandleFunc("GET /enterprises/{enterprise}/secret-scanning/alerts", e.listEnterpriseAlerts)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/secret-scanning/alerts/{number}", e.patchAlert)
	mux.HandleFunc("GET /meta/public_keys/secret_scanning", e.partnerPublicKeys)
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", e.installationToken)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}", e.getIssue)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{number}", e.patchIssue)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{a}/{b}", e.issueSub)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{a}/{b}", e.issueSub)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{a}/{b}", e.issueSub)
}

// ---- rate limit ----

// coreLimit counts a request against t's budget and sets the X-RateLimit
// headers; it writes GitHub's primary-limit 403 and returns false when t is
// over its budget.
func (e *Emulator) coreLimit(w http.ResponseWriter, t *token) bool {
	now := time.Now()
	limit, span := e.coreN, e.coreWindow
	if limit <= 0 {
		limit, span = 5000, time.Hour
	}
	e.mu.Lock()
	win := e.core[t.raw]
	if win == nil || now.Sub(win.start) >= span {
		win = &window{start: now}
		e.core[t.raw] = win
	}
	win.n++
	used := win.n
	reset := win.start.Add(span)
	e.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(min(used, limit)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt((reset.UnixNano()+int64(time.Second)-1)/int64(time.Second), 10))
	h.Set("X-RateLimit-Resource", "core")
	if e.coreN <= 0 || used <= limit {
		return true
	}
	writeError(w, http.StatusForbidden, fmt.Sprintf("API rate limit exceeded for user ID %d. If you reach out to GitHub Support for help, please include the request ID.", t.userID),
		docsBase+"/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit")
	return false
}

// ---- listings ----

// AddEnterpriseOrg makes org part of enterprise (for enterprise listings).
func (e *Emulator) AddEnterpriseOrg(enterprise, org string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.enterprises[enterprise] = append(e.enterprises[enterprise], org)
}

// ListRequests counts alert-listing requests that reached the handler.
func (e *Emulator) ListRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.listRequests
}

func (e *Emulator) listRepoAlerts(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("owner") + "/" + r.PathValue("repo")
	e.list(w, r, docsBase+"/secret-scanning/secret-scanning#list-secret-scanning-alerts-for-a-repository", false,
		func(a *alert) bool { return a.owner+"/"+a.repo == key })
}

func (e *Emulator) listOrgAlerts(w http.ResponseWriter, r *http.Request) {
	org := r.PathValue("org")
	e.list(w, r, docsBase+"/secret-scanning/secret-scanning#list-secret-scanning-alerts-for-an-organization", true,
		func(a *alert) bool { return strings.EqualFold(a.owner, org) })
}

func (e *Emulator) listEnterpriseAlerts(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	orgs := append([]string(nil), e.enterprises[r.PathValue("enterprise")]...)
	e.mu.Unlock()
	e.list(w, r, docsBase+"/secret-scanning/secret-scanning#list-secret-scanning-alerts-for-an-enterprise", true,
		func(a *alert) bool {
			for _, o := range orgs {
				if strings.EqualFold(a.owner, o) {
					return true
				}
			}
			return false
		})
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(string(b), "seq:"), 10, 64)
	return n, err == nil && strings.HasPrefix(string(b), "seq:")
}

func (e *Emulator) list(w http.ResponseWriter, r *http.Request, doc string, withRepo bool, in func(*alert) bool) {
	t := e.authenticate(w, r, doc)
	if t == nil || !e.coreLimit(w, t) {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state != "" && state != "open" && state != "resolved" {
		writeValidation(w, doc, "state", "state must be one of open, resolved")
		return
	}
	perPage := 30
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeValidation(w, doc, "per_page", "per_page must be between 1 and 100")
			return
		}
		perPage = n
	}
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeValidation(w, doc, "page", "page must be a positive integer")
			return
		}
		page = n
	}
	_, hasAfter := q["after"]
	_, hasBefore := q["before"]
	e.mu.Lock()
	e.listRequests++
	var all []*alert
	for _, m := range e.alerts {
		for _, a := range m {
			if in(a) && (state == "" || a.state == state) {
				all = append(all, a)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq > all[j].seq }) // newest first
	from, to := 0, 0
	switch {
	case hasAfter && q.Get("after") != "":
		seq, ok := decodeCursor(q.Get("after"))
		if !ok {
			e.mu.Unlock()
			writeValidation(w, doc, "after", "after is not a valid cursor")
			return
		}
		from = sort.Search(len(all), func(i int) bool { return all[i].seq < seq })
		to = min(from+perPage, len(all))
	case hasBefore && q.Get("before") != "":
		seq, ok := decodeCursor(q.Get("before"))
		if !ok {
			e.mu.Unlock()
			writeValidation(w, doc, "before", "before is not a valid cursor")
			return
		}
		to = sort.Search(len(all), func(i int) bool { return all[i].seq <= seq })
		from = max(to-perPage, 0)
	default:
		from = min((page-1)*perPage, len(all))
		to = min(from+perPage, len(all))
	}
	base := "http://" + r.Host
	out := make([]any, 0, to-from)
	for _, a := range all[from:to] {
		out = append(out, alertBody(base, a, withRepo))
	}
	cursorMode := e.cursorMode || hasAfter || hasBefore
	e.mu.Unlock()

	var links []string
	link := func(params, rel string) {
		links = append(links, fmt.Sprintf("<%s%s?per_page=%d%s>; rel=%q", base, r.URL.Path, perPage, params, rel))
	}
	if cursorMode {
		if to < len(all) && to > from {
			link("&after="+encodeCursor(all[to-1].seq), "next")
		}
		if from > 0 && to > from {
			link("&before="+encodeCursor(all[from].seq), "prev")
		}
	} else {
		last := max(1, (len(all)+perPage-1)/perPage)
		if page < last {
			link("&page="+strconv.Itoa(page+1), "next")
			link("&page="+strconv.Itoa(last), "last")
		}
		if page > 1 {
			link("&page=1", "first")
			link("&page="+strconv.Itoa(page-1), "prev")
		}
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}

// alertBody renders an alert as "Get a secret scanning alert" and the
// listings do. Callers hold e.mu.
func alertBody(base string, a *alert, withRepo bool) map[string]any {
	api := base + "/repos/" + a.owner + "/" + a.repo + "/secret-scanning/alerts/" + strconv.FormatInt(a.number, 10)
	var resolution, resolvedAt, resolvedBy, comment any
	if a.state == "resolved" {
		resolution, resolvedAt = a.resolution, a.resolvedAt.Format(time.RFC3339)
		if a.resolutionComment != "" {
			comment = a.resolutionComment
		}
		if a.resolvedBy != nil {
			resolvedBy = simpleUser(base, a.resolvedBy)
		}
	}
	body := map[string]any{
		"number": a.number, "created_at": a.created.Format(time.RFC3339), "updated_at": a.updated.Format(time.RFC3339),
		"url": api, "html_url": "https://github.com/" + a.owner + "/" + a.repo + "/security/secret-scanning/" + strconv.FormatInt(a.number, 10),
		"locations_url": api + "/locations", "state": a.state, "resolution": resolution, "resolved_at": resolvedAt,
		"resolved_by": resolvedBy, "resolution_comment": comment, "secret_type": a.secretType, "secret_type_display_name": a.display,
		"secret": a.raw, "validity": a.validity, "publicly_leaked": a.publiclyLeaked, "multi_repo": false,
		"push_protection_bypassed": false, "push_protection_bypassed_by": nil, "push_protection_bypassed_at": nil,
	}
	if withRepo {
		body["repository"] = map[string]any{
			"id": 1000 + len(a.repo), "name": a.repo, "full_name": a.owner + "/" + a.repo, "private": true,
			"owner":    map[string]any{"login": a.owner, "type": "Organization"},
			"html_url": "https://github.com/" + a.owner + "/" + a.repo, "url": base + "/repos/" + a.owner + "/" + a.repo,
		}
	}
	return body
}

// simpleUser renders a token's user as the reference's simple-user.
func simpleUser(base string, t *token) map[string]any {
	return map[string]any{"login": t.login, "id": t.userID, "node_id": "U_" + strconv.FormatInt(t.userID, 36),
		"type": "User", "site_admin": false, "url": base + "/users/" + t.login, "html_url": "https://github.com/" + t.login}
}

// AddAlertAt is AddAlert with a creation time (for --since backfills).
func (e *Emulator) AddAlertAt(owner, repo, secretType, raw string, created time.Time) int64 {
	n := e.AddAlert(owner, repo, secretType, raw)
	e.mu.Lock()
	a := e.alerts[owner+"/"+repo][n]
	a.created = created.UTC().Truncate(time.Second)
	a.updated = a.created
	e.mu.Unlock()
	return n
}

// AlertState returns an alert's state, resolution and resolution comment.
func (e *Emulator) AlertState(owner, repo string, number int64) (state, resolution, comment string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.alerts[owner+"/"+repo][number]
	if a == nil {
		return "", "", ""
	}
	return a.state, a.resolution, a.resolutionComment
}

func writeValidation(w http.ResponseWriter, doc, field, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnprocessableEntity)
	b, _ := json.Marshal(map[string]any{
		"message": "Validation Failed", "documentation_url": doc, "status": "422",
		"errors": []any{map[string]string{"resource": "SecretScanningAlert", "field": field, "code": "invalid", "message": msg}},
	})
	_, _ = w.Write(b)
}

func (e *Emulator) patchAlert(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/secret-scanning/secret-scanning#update-a-secret-scanning-alert"
	a, by := e.findAlertAs(w, r, doc)
	if a == nil {
		return
	}
	var body struct {
		State             string  `json:"state"`
		Resolution        *string `json:"resolution"`
		ResolutionComment *string `json:"resolution_comment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	switch body.State {
	case "open":
	case "resolved":
		ok := body.Resolution != nil
		if ok {
			switch *body.Resolution {
			case "false_positive", "wont_fix", "revoked", "used_in_tests":
			default:
				ok = false
			}
		}
		if !ok {
			writeValidation(w, doc, "resolution", "resolution must be one of false_positive, wont_fix, revoked, used_in_tests when state is resolved")
			return
		}
	default:
		writeValidation(w, doc, "state", "state must be one of open, resolved")
		return
	}
	e.mu.Lock()
	var resolution, comment string
	if body.Resolution != nil {
		resolution = *body.Resolution
	}
	if body.ResolutionComment != nil {
		comment = *body.ResolutionComment
	}
	a.setState(body.State, resolution, comment, by, e.alertNow())
	out := alertBody("http://"+r.Host, a, false)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// ---- partner program keys ----

func (e *Emulator) addPartnerKey() string {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("ecdsa: " + err.Error())
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	sum := sha256.Sum256(der)
	k := &partnerKey{id: hex.EncodeToString(sum[:]), priv: priv, current: true,
		pemPub: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	for _, o := range e.partnerKeys {
		o.current = false
	}
	e.partnerKeys = append(e.partnerKeys, k)
	return k.id
}

// RotatePartnerKey adds a new current signing key and returns its identifier.
func (e *Emulator) RotatePartnerKey() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addPartnerKey()
}

// PartnerKeyID returns the current key's identifier.
func (e *Emulator) PartnerKeyID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.partnerKeys[len(e.partnerKeys)-1].id
}

// SignPartner signs a partner-program payload with the current key and
// returns the Github-Public-Key-Identifier and Github-Public-Key-Signature
// header values.
func (e *Emulator) SignPartner(body []byte) (keyID, signature string) {
	e.mu.Lock()
	k := e.partnerKeys[len(e.partnerKeys)-1]
	e.mu.Unlock()
	return k.id, SignPartnerWith(k.priv, body)
}

// SignPartnerWith signs body with priv as GitHub signs partner payloads:
// base64 of the ASN.1 DER ECDSA signature over SHA-256(body).
func SignPartnerWith(priv *ecdsa.PrivateKey, body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	if err != nil {
		panic("ecdsa sign: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// PartnerKeyFetches counts GET /meta/public_keys/secret_scanning requests.
func (e *Emulator) PartnerKeyFetches() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keyFetches
}

func (e *Emulator) partnerPublicKeys(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" && e.authenticate(w, r, docsBase+"/meta/meta") == nil {
		return
	}
	e.mu.Lock()
	e.keyFetches++
	keys := make([]any, 0, len(e.partnerKeys))
	for _, k := range e.partnerKeys {
		keys = append(keys, map[string]any{"key_identifier": k.id, "key": k.pemPub, "is_current": k.current})
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"public_keys": keys})
}

// ---- GitHub App ----

// AddApp registers a GitHub App installed on owner and returns its ID, the
// installation ID and the App's private key (PEM, PKCS#1 as GitHub hands it
// out).
func (e *Emulator) AddApp(owner string) (appID string, installationID int64, privateKeyPEM []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("rsa: " + err.Error())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := strconv.Itoa(100000 + len(e.apps))
	inst := int64(5000000 + len(e.apps))
	a := &app{id: id, installation: inst, key: key, owner: owner}
	e.apps[id], e.installs[inst] = a, a
	return id, inst, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// TokenExchanges counts installation tokens issued.
func (e *Emulator) TokenExchanges() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokenExch
}

func (e *Emulator) installationToken(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/apps/apps#create-an-installation-access-token-for-an-app"
	raw, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication", doc)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	e.mu.Lock()
	a := e.installs[id]
	e.mu.Unlock()
	var claims jwt.RegisteredClaims
	tok, perr := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		e.mu.Lock()
		ap := e.apps[iss]
		e.mu.Unlock()
		if ap == nil {
			return nil, fmt.Errorf("unknown app")
		}
		return &ap.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if perr != nil || !tok.Valid {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded", doc)
		return
	}
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute {
		writeError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future", doc)
		return
	}
	if err != nil || a == nil || a.id != claims.Issuer {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return
	}
	raw = github.NewToken(github.PrefixInstallation)
	exp := time.Now().Add(e.instTTL)
	e.mu.Lock()
	e.nextUserID++
	e.tokens[raw] = &token{raw: raw, login: a.owner, userID: e.nextUserID, expires: exp}
	e.tokenExch++
	e.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": raw, "expires_at": exp.UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"secret_scanning_alerts": "write", "issues": "write", "metadata": "read"},
		"repository_selection": "all",
	})
}

// ---- issues and comments ----

// AddIssue creates an issue and returns its number.
func (e *Emulator) AddIssue(owner, repo, title, body string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addIssue(&issue{owner: owner, repo: repo, title: title, body: body}).number
}

// addIssue numbers and stores an issue. Callers hold e.mu.
func (e *Emulator) addIssue(is *issue) *issue {
	is.number = 1
	for k := range e.issues {
		if strings.HasPrefix(k, is.owner+"/"+is.repo+"#") {
			is.number++
		}
	}
	e.issues[fmt.Sprintf("%s/%s#%d", is.owner, is.repo, is.number)] = is
	return is
}

// AddIssueComment adds a comment to an issue and returns its id.
func (e *Emulator) AddIssueComment(owner, repo string, number int, body string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addComment(owner, repo, number, body, "dev-alice")
}

func (e *Emulator) addComment(owner, repo string, number int, body, author string) int64 {
	is := e.issues[fmt.Sprintf("%s/%s#%d", owner, repo, number)]
	if is == nil {
		return 0
	}
	e.nextComment++
	e.comments[e.nextComment] = &comment{id: e.nextComment, owner: owner, repo: repo, issue: number, body: body, author: author}
	is.comments = append(is.comments, e.nextComment)
	return e.nextComment
}

// Issue returns an issue's title and body.
func (e *Emulator) Issue(owner, repo string, number int) (title, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if is := e.issues[fmt.Sprintf("%s/%s#%d", owner, repo, number)]; is != nil {
		return is.title, is.body
	}
	return "", ""
}

// IssueComment returns a comment's body.
func (e *Emulator) IssueComment(id int64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.comments[id]; c != nil {
		return c.body
	}
	return ""
}

// IssueComments returns the bodies of an issue's comments, in order.
func (e *Emulator) IssueComments(owner, repo string, number int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	is := e.issues[fmt.Sprintf("%s/%s#%d", owner, repo, number)]
	if is == nil {
		return nil
	}
	var out []string
	for _, id := range is.comments {
		out = append(out, e.comments[id].body)
	}
	return out
}

func (e *Emulator) issueAuth(w http.ResponseWriter, r *http.Request, doc string) *token {
	t := e.authenticate(w, r, doc)
	if t == nil || !e.coreLimit(w, t) {
		return nil
	}
	return t
}

func issueJSON(base string, is *issue) map[string]any {
	labels := []any{}
	for _, l := range is.labels {
		labels = append(labels, map[string]any{"name": l})
	}
	assignees := []any{}
	for _, a := range is.assignees {
		assignees = append(assignees, map[string]any{"login": a})
	}
	state, author := is.state, is.author
	if state == "" {
		state = "open"
	}
	if author == "" {
		author = "dev-alice"
	}
	return map[string]any{
		"number": is.number, "title": is.title, "body": is.body, "state": state,
		"labels": labels, "assignees": assignees,
		"url":      fmt.Sprintf("%s/repos/%s/%s/issues/%d", base, is.owner, is.repo, is.number),
		"html_url": fmt.Sprintf("https://github.com/%s/%s/issues/%d", is.owner, is.repo, is.number),
		"user":     map[string]any{"login": author}, "comments": len(is.comments),
	}
}

func commentJSON(base string, c *comment) map[string]any {
	return map[string]any{
		"id": c.id, "body": c.body, "user": map[string]any{"login": c.author},
		"url":       fmt.Sprintf("%s/repos/%s/%s/issues/comments/%d", base, c.owner, c.repo, c.id),
		"html_url":  fmt.Sprintf("https://github.com/%s/%s/issues/%d#issuecomment-%d", c.owner, c.repo, c.issue, c.id),
		"issue_url": fmt.Sprintf("%s/repos/%s/%s/issues/%d", base, c.owner, c.repo, c.issue),
	}
}

func (e *Emulator) findIssue(w http.ResponseWriter, r *http.Request, num, doc string) *issue {
	n, err := strconv.Atoi(num)
	e.mu.Lock()
	is := e.issues[fmt.Sprintf("%s/%s#%d", r.PathValue("owner"), r.PathValue("repo"), n)]
	e.mu.Unlock()
	if err != nil || is == nil {
		writeError(w, http.StatusNotFound, "Not Found", doc)
		return nil
	}
	return is
}

func (e *Emulator) getIssue(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/issues/issues#get-an-issue"
	if e.issueAuth(w, r, doc) == nil {
		return
	}
	is := e.findIssue(w, r, r.PathValue("number"), doc)
	if is == nil {
		return
	}
	e.mu.Lock()
	out := issueJSON("http://"+r.Host, is)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) patchIssue(w http.ResponseWriter, r *http.Request) {
	doc := docsBase + "/issues/issues#update-an-issue"
	if e.issueAuth(w, r, doc) == nil {
		return
	}
	is := e.findIssue(w, r, r.PathValue("number"), doc)
	if is == nil {
		return
	}
	var body struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", doc)
		return
	}
	e.mu.Lock()
	if body.Title != nil {
		is.title = *body.Title
	}
	if body.Body != nil {
		is.body = *body.Body
	}
	out := issueJSON("http://"+r.Host, is)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// issueSub serves /repos/{owner}/{repo}/issues/comments/{id} and
// /repos/{owner}/{repo}/issues/{n}/comments, whose patterns overlap.
func (e *Emulator) issueSub(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	base := "http://" + r.Host
	switch {
	case a == "comments" && (r.Method == http.MethodGet || r.Method == http.MethodPatch):
		doc := docsBase + "/issues/comments#update-an-issue-comment"
		if e.issueAuth(w, r, doc) == nil {
			return
		}
		id, err := strconv.ParseInt(b, 10, 64)
		e.mu.Lock()
		c := e.comments[id]
		e.mu.Unlock()
		if err != nil || c == nil || c.owner != r.PathValue("owner") || c.repo != r.PathValue("repo") {
			writeError(w, http.StatusNotFound, "Not Found", doc)
			return
		}
		if r.Method == http.MethodPatch {
			var body struct {
				Body *string `json:"body"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Body == nil {
				writeValidation(w, doc, "body", "body is required")
				return
			}
			e.mu.Lock()
			c.body = *body.Body
			e.mu.Unlock()
		}
		e.mu.Lock()
		out := commentJSON(base, c)
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case b == "comments" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		doc := docsBase + "/issues/comments#create-an-issue-comment"
		t := e.issueAuth(w, r, doc)
		if t == nil {
			return
		}
		is := e.findIssue(w, r, a, doc)
		if is == nil {
			return
		}
		if r.Method == http.MethodPost {
			var body struct {
				Body *string `json:"body"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Body == nil || *body.Body == "" {
				writeValidation(w, doc, "body", "body is required")
				return
			}
			e.mu.Lock()
			id := e.addComment(is.owner, is.repo, is.number, *body.Body, t.login)
			out := commentJSON(base, e.comments[id])
			e.mu.Unlock()
			writeJSON(w, http.StatusCreated, out)
			return
		}
		e.mu.Lock()
		out := make([]any, 0, len(is.comments))
		for _, id := range is.comments {
			out = append(out, commentJSON(base, e.comments[id]))
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	default:
		writeError(w, http.StatusNotFound, "Not Found", docsBase)
	}
}
