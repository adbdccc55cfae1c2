package app

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/web"
	"github.com/firebreak-sec/firebreak/responders/approvals"
)

// slackCallback handles Slack's interactive callback of the Approve/Deny
// buttons: the signature and timestamp are verified before anything is
// read (401 otherwise), the block_actions payload names the user, and the
// user must be an approver of the step.
func (a *App) slackCallback(w http.ResponseWriter, r *http.Request) {
	if a.oncall.slackSecret == nil {
		web.Error(w, http.StatusUnauthorized, "Slack callbacks are not configured (approvals.slack_signing_secret)")
		return
	}
	body, err := web.ReadBody(w, r, 1<<20)
	if err != nil {
		web.Error(w, http.StatusRequestEntityTooLarge, "body over 1 MiB")
		return
	}
	sec, err := a.oncall.slackSecret.Secret(r.Context())
	if err != nil {
		web.Error(w, http.StatusServiceUnavailable, "Slack signing secret unavailable")
		return
	}
	err = approvals.VerifySlack([]byte(sec.Reveal()), r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature"), body, time.Now())
	if err != nil {
		web.Error(w, http.StatusUnauthorized, err.Error())
		return
	}
	act, err := approvals.ParseSlack(body)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	who := act.Username
	if who == "" {
		who = act.Name
	}
	by := who + " (slack " + act.UserID + ")"
	setActor(r, "slack:"+act.UserID)
	outcome := approvals.Approved
	if act.ActionID == approvals.SlackDeny {
		outcome = approvals.Denied
	}
	check := func(req *approvals.Request) error {
		return req.MayDecide(r.Context(), a.oncall.groups, act.UserID, act.Username, act.Name)
	}
	a.decide(w, r, act.Value, approvals.Decision{Outcome: outcome, By: by, Via: approvals.ViaSlack, RequestID: r.Header.Get("X-Request-Id")}, check)
}

var linkPageTmpl = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Firebreak approval</title>
<meta name="referrer" content="no-referrer">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;color:#1d2330}
.box{border:1px solid #ccd;border-radius:8px;padding:1.5em}button{font-size:1em;padding:.6em 1.4em;border-radius:6px;border:0;color:#fff;cursor:pointer}
.approve{background:#1a7f37}.deny{background:#cf222e}.muted{color:#667}</style></head>
<body><div class="box">
<h1>{{.Heading}}</h1>
<p>{{.Message}}</p>
{{if .Form}}<form method="post"><button class="{{.Decision}}" type="submit">{{.Button}}</button></form>
<p class="muted">This link works once and until {{.Deadline}}.</p>{{end}}
</div></body></html>`))

type linkPage struct {
	Heading, Message, Decision, Button, Deadline string
	Form                                         bool
}

func renderLink(w http.ResponseWriter, status int, p linkPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = linkPageTmpl.Execute(w, p)
}

// linkPage shows what a signed approval link will do, with a button that
// POSTs the decision: opening a link (a preview, a mail scanner) decides
// nothing.
func (a *App) linkPage(w http.ResponseWriter, r *http.Request) {
	claim, req, ok := a.checkLink(w, r)
	if !ok {
		return
	}
	verb := map[string]string{"approve": "Approve", "deny": "Deny"}[claim.Decision]
	renderLink(w, http.StatusOK, linkPage{Heading: verb + " " + req.Step + "?", Form: true, Decision: claim.Decision, Button: verb,
		Deadline: req.Deadline.UTC().Format("2006-01-02 15:04 MST"),
		Message:  fmt.Sprintf("Incident %s waits for approval %s. You are deciding as %s.", req.Incident, req.ID, claim.For)})
}

// linkDecide makes the decision of a signed link, once.
func (a *App) linkDecide(w http.ResponseWriter, r *http.Request) {
	claim, _, ok := a.checkLink(w, r)
	if !ok {
		return
	}
	outcome := approvals.Approved
	if claim.Decision == "deny" {
		outcome = approvals.Denied
	}
	check := func(req *approvals.Request) error { return req.MayDecide(r.Context(), a.oncall.groups, claim.For) }
	req, err := a.oncall.approvals.Decide(r.Context(), claim.ID, approvals.Decision{Outcome: outcome, By: claim.For, Via: approvals.ViaLink,
		RequestID: r.Header.Get("X-Request-Id")}, time.Now(), check)
	if code, msg := decisionError(err); code != 0 {
		renderLink(w, code, linkPage{Heading: "Not decided", Message: msg})
		return
	}
	if err := a.oncall.sweeper.Resume(r.Context(), req); err != nil {
		a.Log.WithError(err).Warn("resume after a decision failed; the sweeper retries")
	}
	renderLink(w, http.StatusOK, linkPage{Heading: map[string]string{"approve": "Approved", "deny": "Denied"}[claim.Decision],
		Message: fmt.Sprintf("Recorded: %s by %s. Firebreak resumes incident %s.", req.Decision.Outcome, claim.For, req.Incident)})
}

func (a *App) checkLink(w http.ResponseWriter, r *http.Request) (approvals.LinkClaim, *approvals.Request, bool) {
	claim, err := a.oncall.links.Verify(r.PathValue("id"), r.URL.Query(), time.Now())
	if err != nil {
		renderLink(w, http.StatusUnauthorized, linkPage{Heading: "Invalid link", Message: err.Error()})
		return claim, nil, false
	}
	setActor(r, "link:"+claim.For)
	req, _, err := a.oncall.approvals.Get(r.Context(), claim.ID)
	if errors.Is(err, approvals.ErrNotFound) {
		renderLink(w, http.StatusConflict, linkPage{Heading: "Nothing to decide", Message: "This approval is settled (or no longer exists)."})
		return claim, nil, false
	}
	if err != nil {
		renderLink(w, http.StatusServiceUnavailable, linkPage{Heading: "Unavailable", Message: err.Error()})
		return claim, nil, false
	}
	if req.Decision != nil {
		renderLink(w, http.StatusConflict, linkPage{Heading: "Already decided",
			Message: fmt.Sprintf("%s by %s via %s; a link works once.", req.Decision.Outcome, req.Decision.By, req.Decision.Via)})
		return claim, nil, false
	}
	return claim, req, true
}
