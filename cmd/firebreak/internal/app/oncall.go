package app

// On-call wiring (issue 7): control-API tokens and scopes, the audit of every
// control request, replay, incidents with their timeline, approvals (Slack
// callbacks, signed links, the API), audit export and verification. Kept in
// its own file; app.go and routes.go only call into it.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// oncall holds the on-call parts of the app.
type oncall struct {
	tokens      *tokens.Store
	approvals   *approvals.Store
	sweeper     *approvals.Sweeper
	replayer    *responders.Replayer
	control     *audit.ControlLog
	links       approvals.Links
	slackSecret secret.Source // nil: Slack callbacks are refused
	// Groups resolves approver groups. nil until an owners source that
	// knows groups is wired (the owners file, issue 5): a group then admits
	// nobody and the refusal says why.
	groups approvals.Groups
}

// publicBase is the base URL people and Slack reach the control API at.
func publicBase(cfg *config.Config) string {
	if cfg.HTTP.PublicURL != "" {
		return trimURL(cfg.HTTP.PublicURL)
	}
	return "http://" + cfg.HTTP.Listen
}

// linksFor derives the approval-link key from the keyring's fingerprint key
// (an HMAC under it with a fixed label), so every instance of a deployment
// verifies every link and no new secret needs distributing.
func linksFor(cfg *config.Config, kr *secret.Keyring) approvals.Links {
	key, _ := hex.DecodeString(kr.Fingerprint(secret.New("firebreak approval links v1")))
	return approvals.Links{Key: key, Base: publicBase(cfg)}
}

// approvalAction builds the approval step action over the Slack and webhook
// notifiers the other actions were built with.
func approvalAction(cfg *config.Config, acts []step.Action, kr *secret.Keyring) step.Action {
	a := actions.Approval{Slack: map[string]notify.Notifier{}, Webhooks: map[string]notify.Notifier{}, Links: linksFor(cfg, kr)}
	for _, act := range acts {
		if n, ok := act.(actions.Notify); ok {
			switch n.Kind {
			case "slack":
				a.Slack = n.Notifiers
			case "webhook":
				a.Webhooks = n.Notifiers
			}
			if n.IncidentURL != nil {
				a.IncidentURL = n.IncidentURL
			}
		}
	}
	return a
}

// buildOncall wires the on-call parts once the bus and responders exist.
func (a *App) buildOncall(cfg *config.Config, rs secret.Resolvers, acts []step.Action) error {
	o := &oncall{
		tokens:    &tokens.Store{KV: a.Bus.Tokens, JS: a.JS},
		approvals: &approvals.Store{KV: a.Bus.Approvals, JS: a.JS},
		control:   &audit.ControlLog{JS: a.JS},
		links:     linksFor(cfg, a.Keyring),
	}
	if !cfg.Approvals.SlackSigningSecret.IsZero() {
		src, err := rs.Source(cfg.Approvals.SlackSigningSecret)
		if err != nil {
			return fmt.Errorf("approvals.slack_signing_secret: %w", err)
		}
		o.slackSecret = src
	}
	o.sweeper = &approvals.Sweeper{Store: o.approvals, JS: a.JS, Every: cfg.Approvals.SweepInterval.D(),
		Republish: 2 * cfg.NATS.AckWait.D(), Log: a.Log.WithField("component", "approvals"),
		Pending: func(ctx context.Context, incidentID, approvalID string) (bool, error) {
			in, _, err := a.Incidents.Get(ctx, incidentID)
			if errors.Is(err, incident.ErrNotFound) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			p := in.PendingApproval()
			return p != nil && p.ID == approvalID, nil
		}}
	o.replayer = &responders.Replayer{JS: a.JS, Incidents: a.Incidents, Planner: responders.NewPlanner(acts),
		Playbooks: a.currentPlaybooks, Catalog: a.Catalog, Fingerprinter: a.Keyring}
	a.oncall = o
	return nil
}

func (a *App) currentPlaybooks() *playbooks.Set { return a.Playbooks }

// Tokens is the control-API token store (tests, the CLI's in-process use).
func (a *App) Tokens() *tokens.Store { return a.oncall.tokens }

// ApprovalLinks mints signed approval links (tests).
func (a *App) ApprovalLinks() approvals.Links { return a.oncall.links }

// SetApproverGroups wires an approver-group source (the owners file).
func (a *App) SetApproverGroups(g approvals.Groups) { a.oncall.groups = g }

// runOncall runs the approval sweeper until ctx ends.
func (a *App) runOncall(ctx context.Context) {
	if a.oncall != nil && a.Responder != nil {
		a.oncall.sweeper.Run(ctx)
	}
}

// principal is who made a control request.
type principal struct {
	Name    string // token name ("admin" for the admin token file)
	TokenID string
	token   tokens.Token
}

type ctxKey int

const (
	principalKey ctxKey = 1
	actorKey     ctxKey = 2
)

// setActor names who made a request that authenticated without a token
// (a verified Slack user, the holder of a signed link), for its audit record.
func setActor(r *http.Request, name string) {
	if h, ok := r.Context().Value(actorKey).(*string); ok {
		*h = name
	}
}

func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey).(*principal)
	return p
}

// authenticate finds the token of a request: the bearer header, or (for
// the HTML pages) the firebreak_token cookie.
func (a *App) authenticate(r *http.Request, cookie bool) (*principal, int, string) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if (!ok || got == "") && cookie {
		if c, err := r.Cookie(uiCookie); err == nil {
			got, ok = c.Value, true
		}
	}
	got = strings.TrimSpace(got)
	if !ok || got == "" {
		return nil, http.StatusUnauthorized, "missing bearer token"
	}
	want, err := a.adminToken.Secret(r.Context())
	if err != nil {
		a.Log.WithError(err).Error("admin token unavailable")
		return nil, http.StatusServiceUnavailable, "control API token unavailable"
	}
	admin := secret.New(strings.TrimSpace(want.Reveal())) // the file ends with a newline
	defer admin.Wipe()
	if admin.Matches([]byte(got)) { // constant time, lengths included
		return &principal{Name: "admin", TokenID: "admin-token", token: tokens.Token{Name: "admin", Scopes: []tokens.Scope{tokens.Admin}}}, 0, ""
	}
	t, err := a.oncall.tokens.Lookup(r.Context(), got)
	if errors.Is(err, tokens.ErrUnknown) {
		return nil, http.StatusUnauthorized, "unknown token"
	}
	if err != nil {
		return nil, http.StatusServiceUnavailable, "tokens unavailable: " + err.Error()
	}
	return &principal{Name: t.Name, TokenID: t.ID, token: t}, 0, ""
}

// statusWriter records the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// audited records every control request in the control chain of the audit
// trail: who (token name and id, never the token), what (method and path,
// never the query: links carry signatures there; a path segment that may be
// a secret is described, web.Path), the answer, and the
// request id, which is also sent back as X-Request-Id and carried into the
// replays and decisions the request makes.
func (a *App) audited(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 64 || strings.ContainsAny(rid, " \t\r\n") {
			rid = "req_" + randomHex(8)
		}
		r.Header.Set("X-Request-Id", rid)
		w.Header().Set("X-Request-Id", rid)
		holder := new(string)
		r = r.WithContext(context.WithValue(r.Context(), actorKey, holder))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		actor, tokenID := "anonymous", ""
		if p := principalOf(r); p != nil {
			actor, tokenID = p.Name, p.TokenID
		} else if *holder != "" {
			actor = *holder // set by handlers that authenticate otherwise (Slack, links)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		// The path and its id as web.Path shows them: a key pasted where
		// an id goes is described, never kept in the trail.
		path := web.Path(r.URL.Path)
		rec := audit.Record{Kind: audit.KindControlRequest, Actor: actor, Correlation: rid,
			Detail: fmt.Sprintf("%s %s → %d", r.Method, path, status), Outcome: strconv.Itoa(status),
			Data: map[string]string{"method": r.Method, "path": path, "status": strconv.Itoa(status), "what": what,
				"token": tokenID, "remote": r.RemoteAddr}}
		if inc := r.PathValue("id"); inc != "" {
			if !knownID(inc) {
				inc = web.Quote(inc, "id")
			}
			rec.Data["target"] = inc
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := a.oncall.control.Append(ctx, rec); err != nil {
			a.Log.WithError(err).Error("control audit append failed")
		}
	})
}

// scoped requires a token with scope (401 missing or unknown, 403 without
// the scope), and audits the request.
func (a *App) scoped(scope tokens.Scope, what string, h http.HandlerFunc) http.Handler {
	return a.audited(what, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, code, msg := a.authenticate(r, false)
		if p == nil {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="firebreak"`)
			}
			web.Error(w, code, msg)
			return
		}
		*r = *r.WithContext(context.WithValue(r.Context(), principalKey, p))
		if !p.token.Has(scope) {
			web.Error(w, http.StatusForbidden, fmt.Sprintf("token %s (%s) lacks the %s scope", p.Name, p.TokenID, scope))
			return
		}
		h(w, r)
	}))
}

// oncallRoutes registers the control API and the incident pages.
func (a *App) oncallRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/incidents", a.scoped(tokens.Read, "incidents.list", a.listIncidents))
	mux.Handle("GET /v1/incidents/{id}", a.scoped(tokens.Read, "incidents.show", a.getIncident))
	mux.Handle("POST /v1/incidents/{id}/replay", a.scoped(tokens.Replay, "replay", a.replayIncident))
	mux.Handle("POST /v1/replay", a.scoped(tokens.Replay, "replay", a.replay))
	mux.Handle("POST /v1/incidents/{id}/approve", a.scoped(tokens.Approve, "approval.decide", a.decideIncident(approvals.Approved)))
	mux.Handle("POST /v1/incidents/{id}/deny", a.scoped(tokens.Approve, "approval.decide", a.decideIncident(approvals.Denied)))
	mux.Handle("GET /v1/audit", a.scoped(tokens.Read, "audit.export", a.exportAudit))
	mux.Handle("GET /v1/audit/verify", a.scoped(tokens.Read, "audit.verify", a.verifyAudit))
	mux.Handle("POST /v1/tokens", a.scoped(tokens.Admin, "tokens.create", a.createToken))
	mux.Handle("GET /v1/tokens", a.scoped(tokens.Admin, "tokens.list", a.listTokens))
	mux.Handle("DELETE /v1/tokens/{id}", a.scoped(tokens.Admin, "tokens.revoke", a.revokeToken))
	mux.Handle("POST /v1/approvals/slack", a.audited("approval.slack", http.HandlerFunc(a.slackCallback)))
	mux.Handle("GET /v1/approvals/{id}/link", a.audited("approval.link", http.HandlerFunc(a.linkPage)))
	mux.Handle("POST /v1/approvals/{id}/link", a.audited("approval.link", http.HandlerFunc(a.linkDecide)))
	a.uiRoutes(mux)
}

// decodeJSON reads an optional JSON body into v (an empty body is fine).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := web.ReadBody(w, r, 4<<20)
	if err != nil {
		if errors.Is(err, web.ErrTooLarge) {
			web.Error(w, http.StatusRequestEntityTooLarge, "body over 4 MiB")
		} else {
			web.Error(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		}
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// web.JSONError names the problem without echoing the body (a long
		// unknown field name may be a pasted secret) or Firebreak's Go types.
		web.Error(w, http.StatusBadRequest, "invalid JSON body: "+web.JSONError(err))
		return false
	}
	if off := dec.InputOffset(); len(strings.TrimSpace(string(b[off:]))) != 0 {
		web.Error(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: data after the JSON object (byte %d)", off))
		return false
	}
	return true
}

func contextWithPrincipal(r *http.Request, p *principal) context.Context {
	return context.WithValue(r.Context(), principalKey, p)
}
