package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/ingest/tickets/adf"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/jira"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Write-back and redaction steps:
//
//   - github.resolve_alert: resolve the exposure's GitHub secret-scanning
//     alert (state resolved, resolution revoked by default) with a comment
//     naming the incident. An alert already resolved (by a person, or by an
//     earlier attempt) is left as it is.
//   - github.redact_comment and jira.redact: re-fetch each text the
//     exposure's "redact" label names (issue title/body or comment; Jira
//     summary, description or comment), replace exactly the bytes of the
//     secret held in memory with a marker — every other byte of the text is
//     kept — write it back, and add a comment saying what Firebreak did and
//     under which incident. A text that no longer holds the secret was
//     redacted already and is not written again; the comment is not posted
//     twice (existing comments are checked for the incident id). An
//     exposure of the ticket whose secret is in none of its texts (an empty
//     "redact" label: it was found only in the ticket's metadata — a label,
//     a URL, the ticket's id) is skipped with the reason and the places
//     (the "found_in" label): nothing is fetched, edited or commented, for
//     the actions can edit only those texts.

func incidentID(in *step.Input) string {
	if in.Incident != nil {
		return in.Incident.ID
	}
	return ""
}

func defaultMarker(in *step.Input) string {
	return "[secret removed by Firebreak, incident " + incidentID(in) + "]"
}

// noticeText is the comment posted after redaction.
func noticeText(in *step.Input) string {
	if t := in.String("text", ""); t != "" {
		return t
	}
	e := in.Exposure
	kind := e.Secret.Provider
	if kind == "" || kind == "unknown" {
		kind = "secret"
	} else {
		kind += " key"
	}
	if in.Incident != nil && in.Incident.RevokedAt != nil {
		return fmt.Sprintf("Firebreak revoked the %s %s that was pasted here and removed it from the text (incident %s).",
			kind, e.Secret.Redacted, incidentID(in))
	}
	return fmt.Sprintf("Firebreak removed the %s %s that was pasted here (incident %s). It was not revoked automatically: treat it as compromised and rotate it.",
		kind, e.Secret.Redacted, incidentID(in))
}

func redactRefs(in *step.Input) []string {
	var out []string
	for _, r := range strings.Split(in.Exposure.Location.Labels[tickets.LabelRedact], ";") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// metadataOnly is the skipped result of a redaction step for an exposure of
// a ticket whose secret is in none of the texts the step can edit (refs is
// empty): nothing to fetch, replace or comment on. The reason names where
// the secret was found (tickets.LabelFoundIn, redacted at ingest) and what
// is left for people to do.
func metadataOnly(in *step.Input, ticket string) step.Result {
	where := in.Exposure.Location.Labels[tickets.LabelFoundIn]
	if where == "" {
		where = "not named"
	}
	return step.Result{Skipped: true,
		Detail:  fmt.Sprintf("nothing to redact in %s: the secret is in none of its texts, only in its metadata (%s), which this step does not edit; remove it there by hand", ticket, where),
		Outputs: map[string]any{"redacted": 0, "found_in": in.Exposure.Location.Labels[tickets.LabelFoundIn]}}
}

func permanent(provider, msg string) error {
	return &providers.Error{Provider: provider, Op: "redact", Class: providers.Permanent, Message: msg}
}

var redactFields = []playbooks.FieldSpec{
	{Name: "marker", Type: playbooks.TypeString, Description: "text that replaces the secret (default: [secret removed by Firebreak, incident <id>])"},
	{Name: "comment", Type: playbooks.TypeBool, Default: true, Description: "add a comment saying what was done"},
	{Name: "text", Type: playbooks.TypeString, Description: "the comment's text (a template); a default names the incident and whether the key was revoked"},
}

// ---- github.resolve_alert ----

// ResolveAlert is the github.resolve_alert action. GitHub nil (no GitHub
// token or App configured) makes it dry-run.
type ResolveAlert struct {
	GitHub  *github.AlertSource
	BaseURL string // for dry-run plans
}

// Spec implements step.Action.
func (ResolveAlert) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "github.resolve_alert",
		Description: "Resolve the exposure's GitHub secret-scanning alert (resolution revoked) with a comment naming the incident.",
		Fields: []playbooks.FieldSpec{
			{Name: "resolution", Type: playbooks.TypeString, Default: "revoked", Enum: []string{"revoked", "false_positive", "wont_fix", "used_in_tests"}},
			{Name: "comment", Type: playbooks.TypeString, Description: "resolution comment (a template); default names the incident"},
			{Name: "only_if_revoked", Type: playbooks.TypeBool, Default: true, Description: "resolve only when the incident revoked the key"},
		},
		Outputs:    []string{"resolved", "resolution", "already_resolved"},
		SideEffect: true,
	}
}

// Run implements step.Action.
func (a ResolveAlert) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	al := in.Exposure.Alert
	if al == nil {
		return step.Result{Skipped: true, Detail: "not a GitHub alert: nothing to resolve", Outputs: map[string]any{"resolved": false}}, nil
	}
	owner, repo, err := al.Owner()
	if err != nil {
		return step.Result{}, permanent("github", err.Error())
	}
	if in.Bool("only_if_revoked", true) && (in.Incident == nil || in.Incident.RevokedAt == nil) {
		return step.Result{Skipped: true, Detail: "the key was not revoked: the alert is left open", Outputs: map[string]any{"resolved": false}}, nil
	}
	resolution := in.String("resolution", "revoked")
	comment := in.String("comment", "Revoked by Firebreak, incident "+incidentID(in))
	if a.GitHub == nil || in.DryRun {
		why := "no GitHub token or App is configured"
		if in.DryRun {
			why = "dry-run requested"
		}
		return step.Result{DryRun: true, Detail: "dry-run: " + why, Outputs: map[string]any{"resolved": false, "dry_run": true},
			Calls: []providers.Call{{Method: "PATCH", URL: fmt.Sprintf("%s/repos/%s/%s/secret-scanning/alerts/%d", strings.TrimRight(a.BaseURL, "/"), owner, repo, al.Number),
				Body: fmt.Sprintf(`{"state":"resolved","resolution":%q,"resolution_comment":%q}`, resolution, comment)}}}, nil
	}
	cur, err := a.GitHub.GetAlert(ctx, owner, repo, al.Number)
	cur.Secret.Wipe()
	if err != nil {
		return step.Result{}, err
	}
	if cur.State == "resolved" {
		return step.Result{Detail: "alert already resolved (" + cur.Resolution + ")",
			Outputs: map[string]any{"resolved": true, "already_resolved": true, "resolution": cur.Resolution}}, nil
	}
	state, got, err := a.GitHub.ResolveAlert(ctx, owner, repo, al.Number, resolution, comment)
	if err != nil {
		return step.Result{}, err
	}
	return step.Result{Detail: fmt.Sprintf("alert %s#%d %s (%s)", al.Repository, al.Number, state, got),
		Outputs: map[string]any{"resolved": state == "resolved", "resolution": got, "already_resolved": false}}, nil
}

// ---- github.redact_comment ----

// RedactGitHub is the github.redact_comment action.
type RedactGitHub struct {
	GitHub  *github.AlertSource
	BaseURL string
}

// Spec implements step.Action.
func (RedactGitHub) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "github.redact_comment",
		Description: "Replace the secret in the GitHub issue title, body or comment where it was pasted, and comment on the issue.",
		Fields:      redactFields,
		Outputs:     []string{"redacted", "fields", "comment_id"},
		SideEffect:  true,
	}
}

// Run implements step.Action.
func (a RedactGitHub) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	labels := in.Exposure.Location.Labels
	owner, repo, ok := strings.Cut(labels[tickets.LabelRepo], "/")
	num, err := strconv.Atoi(labels[tickets.LabelIssue])
	refs := redactRefs(in)
	if !ok || err != nil || num <= 0 {
		return step.Result{Skipped: true, Detail: "not a GitHub issue exposure: nothing to redact", Outputs: map[string]any{"redacted": 0}}, nil
	}
	if len(refs) == 0 {
		return metadataOnly(in, fmt.Sprintf("%s/%s#%d", owner, repo, num)), nil
	}
	marker := in.String("marker", defaultMarker(in))
	if a.GitHub == nil || in.DryRun || in.Credential.Secret.IsZero() {
		why := "no GitHub token or App is configured"
		switch {
		case in.DryRun:
			why = "dry-run requested"
		case in.Credential.Secret.IsZero() && a.GitHub != nil:
			why = "the secret is not in memory"
		}
		base := strings.TrimRight(a.BaseURL, "/")
		var calls []providers.Call
		for _, r := range refs {
			if id, ok := strings.CutPrefix(r, "comment:"); ok {
				calls = append(calls, providers.Call{Method: "PATCH", URL: fmt.Sprintf("%s/repos/%s/%s/issues/comments/%s", base, owner, repo, id), Note: "secret replaced by " + marker})
			} else {
				calls = append(calls, providers.Call{Method: "PATCH", URL: fmt.Sprintf("%s/repos/%s/%s/issues/%d", base, owner, repo, num), Note: r + ": secret replaced by " + marker})
			}
		}
		return step.Result{DryRun: true, Detail: "dry-run: " + why, Calls: calls, Outputs: map[string]any{"redacted": 0, "dry_run": true}}, nil
	}
	raw := in.Credential.Secret.Reveal()
	total := 0
	var done []string
	for _, r := range refs {
		var n int
		if id, ok := strings.CutPrefix(r, "comment:"); ok {
			cid, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return step.Result{}, permanent("github", "redact label names comment "+strconv.Quote(id))
			}
			body, err := a.GitHub.GetIssueComment(ctx, owner, repo, cid)
			if err != nil {
				return step.Result{}, err
			}
			if n = strings.Count(body, raw); n > 0 {
				if err := a.GitHub.EditIssueComment(ctx, owner, repo, cid, strings.ReplaceAll(body, raw, marker)); err != nil {
					return step.Result{}, err
				}
			}
		} else {
			if r != "title" && r != "body" {
				return step.Result{}, permanent("github", "redact label names field "+strconv.Quote(r))
			}
			is, err := a.GitHub.GetIssue(ctx, owner, repo, num)
			if err != nil {
				return step.Result{}, err
			}
			text := is.Body
			if r == "title" {
				text = is.Title
			}
			if n = strings.Count(text, raw); n > 0 {
				if err := a.GitHub.EditIssue(ctx, owner, repo, num, r, strings.ReplaceAll(text, raw, marker)); err != nil {
					return step.Result{}, err
				}
			}
		}
		total += n
		done = append(done, fmt.Sprintf("%s (%d)", r, n))
	}
	out := map[string]any{"redacted": total, "fields": strings.Join(done, ", ")}
	if in.Bool("comment", true) {
		existing, err := a.GitHub.IssueCommentBodies(ctx, owner, repo, num)
		if err != nil {
			return step.Result{}, err
		}
		if !noticePosted(existing, in) {
			id, err := a.GitHub.CreateIssueComment(ctx, owner, repo, num, noticeText(in))
			if err != nil {
				return step.Result{}, err
			}
			out["comment_id"] = strconv.FormatInt(id, 10)
		}
	}
	return step.Result{Detail: fmt.Sprintf("redacted %s/%s#%d: %s", owner, repo, num, strings.Join(done, ", ")), Outputs: out}, nil
}

// noticePosted reports whether one of the comments is this incident's
// notice: the default text names "(incident <id>)"; a custom text is
// recognised by its content.
func noticePosted(comments []string, in *step.Input) bool {
	tag := "(incident " + incidentID(in) + ")"
	notice := strings.TrimSpace(noticeText(in))
	for _, c := range comments {
		if strings.Contains(c, tag) || strings.TrimSpace(c) == notice {
			return true
		}
	}
	return false
}

// ---- jira.redact ----

// RedactJira is the jira.redact action. Jira nil (no site configured)
// makes it dry-run.
type RedactJira struct {
	Jira    *jira.Client
	BaseURL string
}

// Spec implements step.Action.
func (RedactJira) Spec() playbooks.ActionSpec {
	return playbooks.ActionSpec{
		Name:        "jira.redact",
		Description: "Replace the secret in the Jira summary, description or comment where it was pasted, and comment on the issue.",
		Fields:      redactFields,
		Outputs:     []string{"redacted", "fields", "comment_id"},
		SideEffect:  true,
	}
}

// Run implements step.Action.
func (a RedactJira) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	key := in.Exposure.Location.Ticket
	refs := redactRefs(in)
	if key == "" || in.Exposure.Location.Labels[tickets.LabelSystem] != "jira" {
		return step.Result{Skipped: true, Detail: "not a Jira exposure: nothing to redact", Outputs: map[string]any{"redacted": 0}}, nil
	}
	if len(refs) == 0 {
		return metadataOnly(in, key), nil
	}
	marker := in.String("marker", defaultMarker(in))
	if a.Jira == nil || in.DryRun || in.Credential.Secret.IsZero() {
		why := "no Jira site is configured (jira.base_url, jira.email, jira.api_token)"
		switch {
		case in.DryRun:
			why = "dry-run requested"
		case in.Credential.Secret.IsZero() && a.Jira != nil:
			why = "the secret is not in memory"
		}
		base := strings.TrimRight(a.BaseURL, "/")
		var calls []providers.Call
		for _, r := range refs {
			if id, ok := strings.CutPrefix(r, "comment:"); ok {
				calls = append(calls, providers.Call{Method: "PUT", URL: base + "/rest/api/3/issue/" + key + "/comment/" + id, Note: "secret replaced by " + marker})
			} else {
				calls = append(calls, providers.Call{Method: "PUT", URL: base + "/rest/api/3/issue/" + key, Note: r + ": secret replaced by " + marker})
			}
		}
		return step.Result{DryRun: true, Detail: "dry-run: " + why, Calls: calls, Outputs: map[string]any{"redacted": 0, "dry_run": true}}, nil
	}
	raw := in.Credential.Secret.Reveal()
	total := 0
	var done []string
	for _, r := range refs {
		var n int
		var err error
		switch {
		case strings.HasPrefix(r, "comment:"):
			id := strings.TrimPrefix(r, "comment:")
			var body json.RawMessage
			if body, err = a.Jira.GetComment(ctx, key, id); err != nil {
				return step.Result{}, err
			}
			var edited json.RawMessage
			if edited, n, err = replaceADF(body, raw, marker); err != nil {
				return step.Result{}, err
			}
			if n > 0 {
				if err = a.Jira.UpdateComment(ctx, key, id, edited); err != nil {
					return step.Result{}, err
				}
			}
		case r == "summary" || r == "description":
			is, err := a.Jira.GetIssue(ctx, key)
			if err != nil {
				return step.Result{}, err
			}
			if r == "summary" {
				if n = strings.Count(is.Summary, raw); n > 0 {
					if err := a.Jira.SetSummary(ctx, key, strings.ReplaceAll(is.Summary, raw, marker)); err != nil {
						return step.Result{}, err
					}
				}
				break
			}
			if len(is.Description) == 0 || string(is.Description) == "null" {
				break
			}
			edited, m, err := replaceADF(is.Description, raw, marker)
			if err != nil {
				return step.Result{}, err
			}
			if n = m; n > 0 {
				if err := a.Jira.SetDescription(ctx, key, edited); err != nil {
					return step.Result{}, err
				}
			}
		default:
			return step.Result{}, permanent("jira", "redact label names field "+strconv.Quote(r))
		}
		total += n
		done = append(done, fmt.Sprintf("%s (%d)", r, n))
	}
	out := map[string]any{"redacted": total, "fields": strings.Join(done, ", ")}
	if in.Bool("comment", true) {
		existing, err := a.Jira.CommentBodies(ctx, key)
		if err != nil {
			return step.Result{}, err
		}
		var texts []string
		for _, b := range existing {
			t, _ := adf.Text(b)
			texts = append(texts, t)
		}
		if !noticePosted(texts, in) {
			id, err := a.Jira.AddComment(ctx, key, adf.FromText(noticeText(in)))
			if err != nil {
				return step.Result{}, err
			}
			out["comment_id"] = id
		}
	}
	return step.Result{Detail: fmt.Sprintf("redacted %s: %s", key, strings.Join(done, ", ")), Outputs: out}, nil
}

// replaceADF replaces raw in an ADF body; a secret present in the text but
// split across formatted nodes cannot be replaced safely and is an error.
func replaceADF(doc json.RawMessage, raw, marker string) (json.RawMessage, int, error) {
	edited, n, err := adf.Replace(doc, raw, marker)
	if err != nil {
		return nil, 0, permanent("jira", "the text is not an Atlassian Document: "+err.Error())
	}
	if n == 0 {
		if t, _ := adf.Text(doc); strings.Contains(strings.ReplaceAll(t, "\n", ""), raw) {
			return nil, 0, permanent("jira", "the secret is split across formatted text; redact it by hand")
		}
	}
	return edited, n, nil
}
