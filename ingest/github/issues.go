package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// IssuePayload is the part of GitHub's `issues` and `issue_comment` webhook
// payloads Firebreak reads (docs.github.com, "Webhook events and payloads":
// issues — opened, edited, reopened; issue_comment — created, edited).
type IssuePayload struct {
	Action string `json:"action"`
	Issue  struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		Body    string `json:"body"`
		HTMLURL string `json:"html_url"`
		User    ghUser `json:"user"`
	} `json:"issue"`
	Comment *struct {
		ID      int64  `json:"id"`
		Body    string `json:"body"`
		HTMLURL string `json:"html_url"`
	} `json:"comment"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

var issueActions = map[string]map[string]bool{
	"issues":        {"opened": true, "edited": true, "reopened": true},
	"issue_comment": {"created": true, "edited": true},
}

// ParseIssue parses and checks an issues/issue_comment payload; ignored is
// set for an action that adds no text.
func ParseIssue(event string, body []byte) (p *IssuePayload, ignored string, err error) {
	p = &IssuePayload{}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, "", errors.New(web.JSONError(err))
	}
	if p.Action == "" {
		return nil, "", errors.New("payload is missing action")
	}
	if !issueActions[event][p.Action] {
		return p, fmt.Sprintf("%s action %s adds no text to scan", event, web.Quote(p.Action, "value")), nil
	}
	var missing []string
	if p.Issue.Number <= 0 {
		missing = append(missing, "issue.number")
	}
	if o, n, ok := strings.Cut(p.Repository.FullName, "/"); !ok || o == "" || n == "" {
		missing = append(missing, "repository.full_name (owner/name)")
	}
	if event == "issue_comment" && (p.Comment == nil || p.Comment.ID <= 0) {
		missing = append(missing, "comment.id")
	}
	if len(missing) > 0 {
		return nil, "", errors.New("payload is missing " + strings.Join(missing, ", "))
	}
	return p, "", nil
}

// Ticket turns the payload into the ticket to scan: the title and body of
// an issue event, the body of a comment event.
func (p *IssuePayload) Ticket(event string) tickets.Ticket {
	ref := fmt.Sprintf("%s#%d", p.Repository.FullName, p.Issue.Number)
	t := tickets.Ticket{System: "github", Ref: ref, URL: p.Issue.HTMLURL,
		Labels: map[string]string{tickets.LabelRepo: p.Repository.FullName, tickets.LabelIssue: strconv.Itoa(p.Issue.Number)}}
	if event == "issue_comment" {
		t.Fields = []tickets.Field{{Name: "comment", CommentID: strconv.FormatInt(p.Comment.ID, 10), Text: p.Comment.Body, URL: p.Comment.HTMLURL}}
		return t
	}
	t.Fields = []tickets.Field{{Name: "title", Text: p.Issue.Title}, {Name: "body", Text: p.Issue.Body}}
	return t
}

func (h *Handler) serveIssue(w http.ResponseWriter, r *http.Request, event, delivery string, body []byte, log logrus.FieldLogger) {
	p, ignored, err := ParseIssue(event, body)
	if err != nil {
		h.metrics.Reject(w, source, "payload", http.StatusBadRequest, err.Error())
		return
	}
	if ignored != "" {
		h.metrics.Requests.WithLabelValues(source, "ignored").Inc()
		web.JSON(w, http.StatusAccepted, map[string]any{"ignored": true, "reason": ignored})
		return
	}
	t := p.Ticket(event)
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	src := exposure.Source{Kind: source, Ref: t.Ref, URL: t.URL, DeliveryID: delivery}
	out, err := h.cfg.Tickets.Deliver(ctx, h.pub, t, src)
	if err != nil {
		log.WithError(err).Warn("issue delivery not stored")
		h.unavailable(w)
		return
	}
	if out.Duplicate {
		h.metrics.Requests.WithLabelValues(source, "duplicate").Inc()
		web.JSON(w, http.StatusOK, map[string]any{"duplicate": true, "exposure_ids": out.ExposureIDs})
		return
	}
	h.metrics.Requests.WithLabelValues(source, "accepted").Inc()
	ids := out.ExposureIDs
	if ids == nil {
		ids = []string{}
	}
	if len(ids) > 0 {
		log.WithFields(logrus.Fields{"ticket": t.Ref, "exposures": len(ids)}).Info("secrets found in a GitHub issue")
	}
	web.JSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "findings": len(ids), "exposure_ids": ids})
}
