package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// IncidentFilter selects incidents (GET /v1/incidents query parameters).
type IncidentFilter struct {
	State, Provider, Source, Environment string
	Since                                time.Time
	Limit                                int
}

// filterParams are the query parameters of GET /v1/incidents, each single.
var filterParams = []string{"state", "provider", "source", "environment", "since", "limit"}

// parseFilter reads the filter of a request's query string (queryParams:
// each parameter of filterParams at most once, no other).
func parseFilter(r *http.Request) (IncidentFilter, error) {
	q, err := queryParams(r, filterParams...)
	if err != nil {
		return IncidentFilter{}, err
	}
	f := IncidentFilter{State: q["state"], Provider: q["provider"], Source: q["source"], Environment: q["environment"]}
	if s := q["since"]; s != "" {
		t, err := ParseSince(s, time.Now())
		if err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
		f.Since = t
	}
	if s := q["limit"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, fmt.Errorf("limit must be a positive integer, got %s", web.Quote(s, "value"))
		}
		f.Limit = n
	}
	return f, nil
}

// Errors of ParseSince.
var (
	ErrTimeSyntax = errors.New("neither a duration ago (90m, 24h, 7d) nor an RFC 3339 time")
	ErrTimeRange  = errors.New("out of range")
)

// MaxAgoDays is the furthest back, in days, a duration ago reaches: the
// longest time.Duration is about 292 years.
const MaxAgoDays = int64(math.MaxInt64 / int64(24*time.Hour)) // 106751

// durationSyntax matches what time.ParseDuration reads, unsigned or with a
// plus sign: a value of this form it refuses has overflowed.
var durationSyntax = regexp.MustCompile(`^\+?(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseSince reads "90m", "24h", "7d" (that long before now; any
// time.ParseDuration form, or whole days) or an RFC 3339 time. A duration ago
// is never negative and reaches back at most MaxAgoDays: beyond that it
// would overflow. Its errors wrap ErrTimeSyntax or ErrTimeRange and quote s
// only when it is web.Quotable (s may come from a query string).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if digits := strings.TrimPrefix(d, "+"); digits != "" && strings.Trim(digits, "0123456789") == "" {
			n, err := strconv.ParseInt(digits, 10, 64)
			if err != nil || n > MaxAgoDays { // only a range error: digits are all digits
				return time.Time{}, fmt.Errorf("%s is %w: a time ago reaches back at most %dd (about 292 years)", web.Quote(s, "value"), ErrTimeRange, MaxAgoDays)
			}
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil && durationSyntax.MatchString(s):
		return time.Time{}, fmt.Errorf("%s is %w: a time ago reaches back at most %dd (about 292 years)", web.Quote(s, "value"), ErrTimeRange, MaxAgoDays)
	case err != nil || d < 0:
		return time.Time{}, fmt.Errorf("%s is %w", web.Quote(s, "value"), ErrTimeSyntax)
	}
	return now.Add(-d), nil
}

func (f IncidentFilter) keep(in *incident.Incident) bool {
	if f.State != "" && string(in.State) != f.State || f.Provider != "" && in.Provider != f.Provider {
		return false
	}
	if !f.Since.IsZero() && in.CreatedAt.Before(f.Since) {
		return false
	}
	if f.Source != "" && !slices.ContainsFunc(in.Exposures, func(x incident.Exposure) bool { return x.Source == f.Source }) {
		return false
	}
	if f.Environment != "" && !slices.Contains(in.Environments(), f.Environment) {
		return false
	}
	return true
}

func (a *App) filteredIncidents(r *http.Request, f IncidentFilter) ([]*incident.Incident, error) {
	list, err := a.Incidents.List(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]*incident.Incident, 0, len(list))
	for _, in := range list {
		if f.keep(in) {
			out = append(out, in)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
	}
	return out, nil
}

func (a *App) listIncidents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := a.filteredIncidents(r, f)
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "incidents unavailable: "+err.Error())
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"incidents": out})
}

// IncidentView is GET /v1/incidents/{id}: the incident and its timeline.
type IncidentView struct {
	*incident.Incident
	Timeline []incident.Entry `json:"timeline"`
}

func (a *App) getIncident(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if !knownID(id) {
		web.Error(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
		return
	}
	in, _, err := a.Incidents.Get(r.Context(), id)
	if errors.Is(err, incident.ErrNotFound) {
		web.Error(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
		return
	}
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "incident unavailable: "+err.Error())
		return
	}
	web.JSON(w, http.StatusOK, IncidentView{Incident: in, Timeline: in.Timeline()})
}

// replayBody is POST /v1/incidents/{id}/replay's optional body.
type replayBody struct {
	DryRun       bool   `json:"dry_run"`
	Playbook     string `json:"playbook,omitempty"`
	PlaybookName string `json:"playbook_name,omitempty"`
}

func (a *App) replayIncident(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "dry_run")
	if !ok {
		return
	}
	var b replayBody
	if !decodeJSON(w, r, &b) {
		return
	}
	switch v, given := q["dry_run"]; {
	case v == "true" || v == "1":
		b.DryRun = true
	case given && v != "false" && v != "0":
		// Read as false, a misspelt value would replay for real.
		web.Error(w, http.StatusBadRequest, "dry_run must be true or false, got "+web.Quote(v, "value"))
		return
	}
	a.runReplay(w, r, responders.ReplayRequest{Incident: r.PathValue("id"), DryRun: b.DryRun, Playbook: b.Playbook, PlaybookName: b.PlaybookName})
}

func (a *App) replay(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	var req responders.ReplayRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	a.runReplay(w, r, req)
}

func (a *App) runReplay(w http.ResponseWriter, r *http.Request, req responders.ReplayRequest) {
	if req.Incident != "" && !knownID(req.Incident) {
		web.Error(w, http.StatusNotFound, "no incident "+web.Quote(req.Incident, "id"))
		return
	}
	p := principalOf(r)
	req.By = p.Name + " (" + r.Header.Get("X-Request-Id") + ")"
	res, err := a.oncall.replayer.Replay(r.Context(), req)
	switch {
	case errors.Is(err, responders.ErrBadReplay):
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, incident.ErrNotFound):
		web.Error(w, http.StatusNotFound, "no incident "+web.Quote(req.Incident, "id"))
		return
	case err != nil:
		web.Error(w, http.StatusServiceUnavailable, "replay failed: "+err.Error())
		return
	}
	status := http.StatusOK
	if !req.DryRun {
		status = http.StatusAccepted
	}
	web.JSON(w, status, res)
}

// decideBody is the optional body of approve/deny.
type decideBody struct {
	Approval string `json:"approval,omitempty"` // default: the incident's pending approval
	Comment  string `json:"comment,omitempty"`
}

// DecisionAnswer answers a decision.
type DecisionAnswer struct {
	Approval string              `json:"approval"`
	Incident string              `json:"incident"`
	Step     string              `json:"step"`
	Decision *approvals.Decision `json:"decision"`
}

func (a *App) decideIncident(outcome string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := query(w, r); !ok {
			return
		}
		var b decideBody
		if !decodeJSON(w, r, &b) {
			return
		}
		if len(b.Comment) > 500 {
			web.Error(w, http.StatusBadRequest, "comment is longer than 500 characters")
			return
		}
		id := r.PathValue("id")
		if !knownID(id) {
			web.Error(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
			return
		}
		if b.Approval != "" && !knownID(b.Approval) {
			web.Error(w, http.StatusNotFound, "no such approval: "+web.Quote(b.Approval, "id"))
			return
		}
		in, _, err := a.Incidents.Get(r.Context(), id)
		if errors.Is(err, incident.ErrNotFound) {
			web.Error(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
			return
		}
		if err != nil {
			web.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		aprID := b.Approval
		if aprID == "" {
			p := in.PendingApproval()
			if p == nil {
				web.Error(w, http.StatusConflict, fmt.Sprintf("incident %s waits for no approval (state %s)", id, in.State))
				return
			}
			aprID = p.ID
		}
		by, err := a.oncall.decider(r.Context(), id, aprID, principalOf(r))
		if code, msg := decisionError(err); code != 0 {
			web.Error(w, code, msg)
			return
		}
		check := func(req *approvals.Request) error { return sameIncident(req, id) }
		a.decide(w, r, aprID, approvals.Decision{Outcome: outcome, By: by, Via: approvals.ViaAPI, Comment: b.Comment,
			RequestID: r.Header.Get("X-Request-Id")}, check)
	}
}

// decider returns who decides approval aprID of incident id when p asks:
// p's name when p is an approver of it, "<name> (admin override)" when p is
// not but holds an admin token. It fails closed: an approval it cannot read
// is an error (503), never a decision without the approver check; an
// unknown approval, or one of another incident, wraps
// approvals.ErrNotFound (404); anyone else gets approvals.ErrNotApprover
// (403). The approvers of a request never change once it is stored, so the
// check holds for the decision that follows.
func (o *oncall) decider(ctx context.Context, id, aprID string, p *principal) (string, error) {
	req, _, err := o.approvals.Get(ctx, aprID)
	if errors.Is(err, approvals.ErrNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("approval %s could not be read, nothing decided: %w", aprID, err)
	}
	if err := sameIncident(req, id); err != nil {
		return "", err
	}
	if err := req.MayDecide(ctx, o.groups, p.Name); err != nil {
		if !p.token.Has(tokens.Admin) {
			return "", err
		}
		return p.Name + " (admin override)", nil // an admin token decides any approval; the trail says so
	}
	return p.Name, nil
}

// sameIncident refuses an approval of another incident as not found.
func sameIncident(req *approvals.Request, id string) error {
	if req.Incident != id {
		return fmt.Errorf("%w: approval %s belongs to another incident", approvals.ErrNotFound, req.ID)
	}
	return nil
}

// decide records a decision and resumes the incident, answering JSON.
func (a *App) decide(w http.ResponseWriter, r *http.Request, id string, d approvals.Decision, check func(*approvals.Request) error) {
	req, err := a.oncall.approvals.Decide(r.Context(), id, d, time.Now(), check)
	if code, msg := decisionError(err); code != 0 {
		web.Error(w, code, msg)
		return
	}
	if err := a.oncall.sweeper.Resume(r.Context(), req); err != nil {
		a.Log.WithError(err).Warn("resume after a decision failed; the sweeper retries")
	}
	web.JSON(w, http.StatusOK, DecisionAnswer{Approval: req.ID, Incident: req.Incident, Step: req.Step, Decision: req.Decision})
}

func decisionError(err error) (int, string) {
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, approvals.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, approvals.ErrAlreadyDecided), errors.Is(err, approvals.ErrExpired):
		return http.StatusConflict, err.Error()
	case errors.Is(err, approvals.ErrNotApprover):
		return http.StatusForbidden, err.Error()
	}
	return http.StatusServiceUnavailable, "decision failed: " + err.Error()
}

// exportAudit writes audit records as JSON lines (application/x-ndjson).
func (a *App) exportAudit(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "incident", "since", "until")
	if !ok || !chainParam(w, q["incident"]) {
		return
	}
	o := audit.ReadOptions{Chain: q["incident"]}
	now := time.Now()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		name, dst := p.name, p.dst
		if s := q[name]; s != "" {
			t, err := ParseSince(s, now)
			if err != nil {
				web.Error(w, http.StatusBadRequest, name+": "+err.Error())
				return
			}
			*dst = t
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	err := audit.Read(r.Context(), a.JS, o, func(s audit.Stored) error {
		if _, err := w.Write(append(append([]byte(nil), s.Raw...), '\n')); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		a.Log.WithError(err).Warn("audit export interrupted")
	}
}

// chainParam answers 400, and reports false, when the incident query
// parameter cannot name an audit chain (knownID: it may be a pasted secret,
// or is longer than any id).
func chainParam(w http.ResponseWriter, chain string) bool {
	if !knownID(chain) {
		web.Error(w, http.StatusBadRequest, "incident: "+web.Quote(chain, "value")+" is not an incident id")
		return false
	}
	return true
}

// VerifyReport answers GET /v1/audit/verify.
type VerifyReport struct {
	OK     bool                `json:"ok"`
	Chains []audit.ChainReport `json:"chains"`
}

func (a *App) verifyAudit(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "incident")
	if !ok {
		return
	}
	chain := q["incident"]
	if !chainParam(w, chain) {
		return
	}
	byChain := map[string][]audit.Stored{}
	var order []string
	err := audit.Read(r.Context(), a.JS, audit.ReadOptions{Chain: chain}, func(s audit.Stored) error {
		c := audit.ChainOf(s.Subject)
		if _, ok := byChain[c]; !ok {
			order = append(order, c)
		}
		byChain[c] = append(byChain[c], s)
		return nil
	})
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "audit unavailable: "+err.Error())
		return
	}
	if chain != "" && len(order) == 0 {
		if _, _, err := a.Incidents.Get(r.Context(), chain); errors.Is(err, incident.ErrNotFound) {
			web.Error(w, http.StatusNotFound, "no incident "+web.Quote(chain, "id"))
			return
		}
		order = append(order, chain)
	}
	rep := VerifyReport{OK: true, Chains: []audit.ChainReport{}}
	for _, c := range order {
		var want *audit.Chain
		if in, _, err := a.Incidents.Get(r.Context(), c); err == nil {
			want = &audit.Chain{Seq: in.AuditSeq, Head: in.AuditHead}
		}
		cr := audit.VerifyChain(c, byChain[c], want)
		rep.OK = rep.OK && cr.OK
		rep.Chains = append(rep.Chains, cr)
	}
	web.JSON(w, http.StatusOK, rep)
}

// tokenBody is POST /v1/tokens.
type tokenBody struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// CreatedToken answers POST /v1/tokens: the only time the value is shown.
type CreatedToken struct {
	Token  string         `json:"token"`
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Scopes []tokens.Scope `json:"scopes"`
}

func (a *App) createToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	var b tokenBody
	if !decodeJSON(w, r, &b) {
		return
	}
	scopes, err := tokens.ParseScopes(b.Scopes)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	value, t, err := a.oncall.tokens.Create(r.Context(), b.Name, scopes, principalOf(r).Name)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.JSON(w, http.StatusCreated, CreatedToken{Token: value, ID: t.ID, Name: t.Name, Scopes: t.Scopes})
}

func (a *App) listTokens(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	l, err := a.oncall.tokens.List(r.Context())
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if l == nil {
		l = []tokens.Token{}
	}
	web.JSON(w, http.StatusOK, map[string]any{"tokens": l})
}

func (a *App) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if !knownID(id) {
		web.Error(w, http.StatusNotFound, "no such token: "+web.Quote(id, "id"))
		return
	}
	t, err := a.oncall.tokens.Revoke(r.Context(), id)
	if errors.Is(err, tokens.ErrNotFound) {
		web.Error(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"revoked": t})
}
