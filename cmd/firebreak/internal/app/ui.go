package app

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// The incident pages: server-rendered HTML (html/template, inline CSS, no
// JavaScript) for people who would rather look than type. They read the same
// incidents as GET /v1/incidents with a read-scope token, given once on the
// login page and kept in an HttpOnly, SameSite=Strict cookie.

const uiCookie = "firebreak_token"

func (a *App) uiRoutes(mux *http.ServeMux) {
	mux.Handle("GET /ui", http.RedirectHandler("/ui/incidents", http.StatusSeeOther))
	mux.Handle("GET /ui/login", a.audited("ui.login", http.HandlerFunc(a.uiLoginForm)))
	mux.Handle("POST /ui/login", a.audited("ui.login", http.HandlerFunc(a.uiLogin)))
	mux.Handle("GET /ui/incidents", a.audited("ui.incidents", a.uiAuth(a.uiList)))
	mux.Handle("GET /ui/incidents/{id}", a.audited("ui.incident", a.uiAuth(a.uiIncident)))
}

func (a *App) uiAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, code, msg := a.authenticate(r, true)
		if p == nil {
			if code == http.StatusUnauthorized {
				http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
				return
			}
			uiError(w, code, msg)
			return
		}
		*r = *r.WithContext(contextWithPrincipal(r, p))
		if !p.token.Has(tokens.Read) {
			uiError(w, http.StatusForbidden, "this token lacks the read scope")
			return
		}
		h(w, r)
	}
}

func (a *App) uiLoginForm(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, "login", map[string]any{"Title": "Sign in"})
}

func (a *App) uiLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		uiError(w, http.StatusBadRequest, "bad form")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	probe := r.Clone(r.Context())
	probe.Header.Set("Authorization", "Bearer "+tok)
	p, code, msg := a.authenticate(probe, false)
	if p == nil {
		render(w, code, "login", map[string]any{"Title": "Sign in", "Error": msg})
		return
	}
	*r = *r.WithContext(contextWithPrincipal(r, p))
	if !p.token.Has(tokens.Read) {
		render(w, http.StatusForbidden, "login", map[string]any{"Title": "Sign in", "Error": "this token lacks the read scope"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: uiCookie, Value: tok, Path: "/ui", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: 12 * 3600})
	http.Redirect(w, r, "/ui/incidents", http.StatusSeeOther)
}

// uiRow is one incident in the list.
type uiRow struct {
	ID, State, Provider, Key, Where, Age, TTR, Steps string
}

func (a *App) uiList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		uiError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := a.filteredIncidents(r, f)
	if err != nil {
		uiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	now := time.Now()
	rows := make([]uiRow, 0, len(list))
	for _, in := range list {
		rows = append(rows, uiRow{ID: in.ID, State: string(in.State), Provider: in.Provider, Key: in.Redacted,
			Where: strings.Join(in.Where(), "; "), Age: Ago(now, in.CreatedAt), TTR: ttr(in), Steps: StepSummary(in)})
	}
	state := f.State // "No incidents in state …" repeats it
	if !web.Quotable(state) {
		state = web.Quote(state, "value")
	}
	render(w, http.StatusOK, "list", map[string]any{"Title": "Incidents", "Rows": rows, "State": state})
}

func (a *App) uiIncident(w http.ResponseWriter, r *http.Request) {
	if _, err := queryParams(r); err != nil {
		uiError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := r.PathValue("id")
	if !knownID(id) {
		uiError(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
		return
	}
	in, _, err := a.Incidents.Get(r.Context(), id)
	if errors.Is(err, incident.ErrNotFound) {
		uiError(w, http.StatusNotFound, "no incident "+web.Quote(id, "id"))
		return
	}
	if err != nil {
		uiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	type entry struct {
		incident.Entry
		Offset, Duration, Class string
	}
	var tl []entry
	for _, e := range in.Timeline() {
		d := ""
		if e.Duration > 0 {
			d = FormatDuration(e.Duration)
		}
		tl = append(tl, entry{Entry: e, Offset: "+" + FormatDuration(e.Offset), Duration: d, Class: entryClass(e)})
	}
	blast := ""
	if b := in.Blast; b != nil && b.Searched {
		blast = fmt.Sprintf("%d other place(s) hold this key", len(b.Hits))
		if len(b.Environments) > 0 {
			blast += " in " + strings.Join(b.Environments, ", ")
		}
		if b.ReusedAcrossEnvs {
			blast += " — reused across environments"
		}
	}
	var pending *incident.Approval
	if p := in.PendingApproval(); p != nil {
		pending = p
	}
	render(w, http.StatusOK, "incident", map[string]any{"Title": in.ID, "In": in, "Timeline": tl, "TTR": ttr(in),
		"Where": in.Where(), "Blast": blast, "Pending": pending})
}

func entryClass(e incident.Entry) string {
	switch {
	case e.State == string(incident.StepFailed) || e.Title == string(incident.Failed) || e.Title == "denied":
		return "bad"
	case e.State == string(incident.StepSucceeded) || e.Title == "approved" || e.Title == string(incident.Contained):
		return "good"
	case e.State == string(incident.StepAwaitingApproval) || e.Kind == "approval":
		return "wait"
	}
	return "info"
}

func ttr(in *incident.Incident) string {
	if d, ok := in.TimeToRevoke(); ok {
		return FormatDuration(d)
	}
	return "—"
}

// StepSummary is "verify ✓ revoke ✓ notify ✓" for lists.
func StepSummary(in *incident.Incident) string {
	var parts []string
	for _, s := range in.Steps {
		mark := map[incident.StepState]string{incident.StepSucceeded: "✓", incident.StepFailed: "✗", incident.StepSkipped: "–",
			incident.StepDryRun: "~", incident.StepAwaitingApproval: "…", incident.StepDenied: "⊘", incident.StepRetrying: "↻", incident.StepStarted: "▶"}[s.State]
		parts = append(parts, s.ID+" "+mark)
	}
	return strings.Join(parts, "  ")
}

// FormatDuration renders a duration for people: 23.9ms, 1.2s, 3m05s, 2h10m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + FormatDuration(-d)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Ago renders how long ago t was.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return FormatDuration(now.Sub(t).Round(time.Second)) + " ago"
}

func uiError(w http.ResponseWriter, status int, msg string) {
	render(w, status, "error", map[string]any{"Title": http.StatusText(status), "Error": msg})
}

func render(w http.ResponseWriter, status int, page string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	if err := uiTemplates.ExecuteTemplate(w, page, data); err != nil {
		fmt.Fprintf(w, "<p>render error: %s</p>", template.HTMLEscapeString(err.Error()))
	}
}

var uiTemplates = template.Must(template.New("ui").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"rfc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
}).Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · Firebreak</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.8em 2em}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1.5em 2em;max-width:72em}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde}
th,td{text-align:left;padding:.45em .7em;border-bottom:1px solid #eef;vertical-align:top}th{background:#eef0f4;font-weight:600}
.badge{display:inline-block;padding:.1em .55em;border-radius:1em;font-size:.85em;font-weight:600;color:#fff;background:#667}
.contained,.completed,.resolved{background:#1a7f37}.failed{background:#cf222e}.awaiting_approval{background:#bf8700}.running,.retrying,.open{background:#0969da}.unmatched{background:#888}
code{font-family:ui-monospace,monospace;font-size:.92em}
.summary{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1.5em;background:#fff;border:1px solid #dde;padding:1em 1.5em;margin-bottom:1.5em}
.summary dt{color:#556;font-weight:600}.summary dd{margin:0}
ol.timeline{list-style:none;margin:0;padding:0 0 0 1.2em;border-left:4px solid #c9d1dc}
ol.timeline li{position:relative;margin:0 0 .9em 0;padding:.55em .9em;background:#fff;border:1px solid #dde;border-radius:6px}
ol.timeline li::before{content:"";position:absolute;left:-1.75em;top:.8em;width:.9em;height:.9em;border-radius:50%;background:#0969da;border:2px solid #fff}
ol.timeline li.good::before{background:#1a7f37}ol.timeline li.bad::before{background:#cf222e}ol.timeline li.wait::before{background:#bf8700}
ol.timeline li.good{border-left:6px solid #1a7f37}ol.timeline li.bad{border-left:6px solid #cf222e}ol.timeline li.wait{border-left:6px solid #bf8700}ol.timeline li.info{border-left:6px solid #0969da}
.t-offset{font-family:ui-monospace,monospace;color:#556;display:inline-block;min-width:6.5em}.t-title{font-weight:700}
.t-detail{color:#333;margin-top:.15em}.t-meta{color:#667;font-size:.88em}
.error{color:#cf222e;font-weight:600}.pending{background:#fff8c5;border:1px solid #d4a72c;padding:.8em 1.2em;margin-bottom:1.5em}
</style></head><body><header><a href="/ui/incidents">Firebreak</a> · incidents</header><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "login"}}{{template "head" .}}
<h1>Sign in</h1><p>Paste a control-API token with the <code>read</code> scope (the admin token is in the data directory: <code>firebreak-data/admin-token</code>).</p>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="/ui/login"><input type="password" name="token" size="60" autocomplete="off" aria-label="token"> <button type="submit">Sign in</button></form>
{{template "foot"}}{{end}}

{{define "error"}}{{template "head" .}}<h1>{{.Title}}</h1><p class="error">{{.Error}}</p>{{template "foot"}}{{end}}

{{define "list"}}{{template "head" .}}
<h1>Incidents</h1>
<table id="incidents"><thead><tr><th>state</th><th>incident</th><th>provider</th><th>key</th><th>where</th><th>opened</th><th>time to revoke</th><th>steps</th></tr></thead><tbody>
{{range .Rows}}<tr><td><span class="badge {{.State}}">{{.State}}</span></td><td><a href="/ui/incidents/{{.ID}}"><code>{{.ID}}</code></a></td>
<td>{{.Provider}}</td><td><code>{{.Key}}</code></td><td>{{.Where}}</td><td>{{.Age}}</td><td>{{.TTR}}</td><td>{{.Steps}}</td></tr>
{{else}}<tr><td colspan="8">No incidents{{if .State}} in state {{.State}}{{end}}.</td></tr>{{end}}
</tbody></table>
{{template "foot"}}{{end}}

{{define "incident"}}{{template "head" .}}
{{with .In}}<h1><span class="badge {{.State}}">{{.State}}</span> <code>{{.ID}}</code></h1>
<dl class="summary">
<dt>key</dt><dd>{{.Provider}} <code>{{.Redacted}}</code> ({{.SecretType}})</dd>
<dt>severity</dt><dd>{{.Severity}}</dd>
<dt>time to revoke</dt><dd id="ttr">{{$.TTR}}</dd>
<dt>seen at</dt><dd>{{range $.Where}}{{.}}<br>{{end}}</dd>
{{if $.Blast}}<dt>blast radius</dt><dd>{{$.Blast}}</dd>{{end}}
<dt>playbooks</dt><dd>{{range .Playbooks}}{{.}} {{end}}</dd>
{{if .Correlation}}<dt>correlation</dt><dd><code>{{.Correlation}}</code></dd>{{end}}
{{if .Error}}<dt>error</dt><dd class="error">{{.Error}}</dd>{{end}}
</dl>{{end}}
{{with .Pending}}<div class="pending"><strong>Waiting for approval</strong> of <code>{{.Step}}</code> from {{range .Approvers}}{{.}} {{end}}{{if .Group}}(group {{.Group}}){{end}} until {{rfc .Deadline}} — on timeout: {{.OnTimeout}}. Decide with <code>firebreak incidents approve {{$.In.ID}}</code>.</div>{{end}}
<h2>Timeline</h2>
<ol class="timeline" id="timeline">
{{range .Timeline}}<li class="{{.Class}}" data-kind="{{.Kind}}"><span class="t-offset">{{.Offset}}</span> <span class="t-title">{{.Title}}</span>
{{if .Step}}<span class="t-meta">{{.Step}}{{if .Uses}} · {{.Uses}}{{end}}{{if .Duration}} · {{.Duration}}{{end}}</span>{{end}}
{{if .Detail}}<div class="t-detail">{{.Detail}}</div>{{end}}</li>
{{end}}</ol>
{{template "foot"}}{{end}}
`))
