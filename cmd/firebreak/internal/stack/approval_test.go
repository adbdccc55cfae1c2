package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// An approval parks the incident with nothing revoked, announces itself on
// Slack (buttons) and the webhook (signed links); only a listed approver's
// token decides; the decision resumes the incident, which revokes once, and
// the trail says who approved, when and through what.
func TestApprovalThroughTheAPI(t *testing.T) {
	e := startApproval(t, "1h", "abort", stack.Options{})
	raw, keyID, id := leakAlert(t, e, "acme/payments-api", 41, "d-apr-api")
	in := waitState(t, e, id, incident.AwaitingApproval)
	if p := in.PendingApproval(); p == nil || p.Step != "openai-approve/approve" || !p.Announced {
		t.Fatalf("pending approval: %+v", in.Approvals)
	}
	if in.Lease != nil {
		t.Fatalf("a parked incident holds no lease: %+v", in.Lease)
	}
	if n := deletes(e.OpenAI.Server()); n != 0 || !e.OpenAI.Live(raw) {
		t.Fatalf("revoked before approval: %d DELETEs", n)
	}
	msgs := e.Slack.Messages()
	if len(msgs) != 1 || len(msgs[0].Buttons()) != 2 || msgs[0].Buttons()[0].Value != in.PendingApproval().ID {
		t.Fatalf("Slack approval request: %d messages, buttons %+v", len(msgs), msgs[0].Buttons())
	}
	wm := e.Webhook.Messages()
	if len(wm) != 1 || wm[0].Links["approve:alice"] == "" || wm[0].Links["deny:U0ALICE"] == "" {
		t.Fatalf("webhook approval request links: %+v", wm)
	}

	bob := newToken(t, e, "bob", tokens.Approve)
	if code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", bob, nil); code != http.StatusForbidden ||
		!strings.Contains(string(body), "bob may not decide") {
		t.Fatalf("bob, not an approver: %d %s", code, body)
	}
	reader := newToken(t, e, "alice", tokens.Read)
	if code, _ := api(t, e, "POST", "/v1/incidents/"+id+"/approve", reader, nil); code != http.StatusForbidden {
		t.Fatalf("a read token approving: %d, want 403", code)
	}
	alice := newToken(t, e, "alice", tokens.Approve)
	code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", alice, map[string]string{"comment": "service migrated"})
	if code != http.StatusOK {
		t.Fatalf("alice approves: %d %s", code, body)
	}
	in = waitState(t, e, id, incident.Contained)
	if n := deletes(e.OpenAI.Server()); n != 1 || e.OpenAI.Live(raw) {
		t.Fatalf("after approval: %d DELETEs, live %v", n, e.OpenAI.Live(raw))
	}
	_ = keyID
	a := in.Approvals[0]
	if a.State != incident.ApprovalApproved || a.DecidedBy != "alice" || a.Via != "api" || a.Comment != "service migrated" {
		t.Fatalf("approval record: %+v", a)
	}
	recs := auditRecords(t, e, id)
	g := findRecord(recs, audit.KindApprovalGranted)
	if g == nil || g.Actor != "alice" || g.Data["via"] != "api" || g.Data["decided_at"] == "" || g.Data["request_id"] == "" {
		t.Fatalf("approval.granted record: %+v", g)
	}
	if findRecord(recs, audit.KindApprovalRequested) == nil {
		t.Fatal("no approval.requested record")
	}
	// The decision's control request is in the control chain, with the same request id.
	var found bool
	for _, r := range auditRecords(t, e, "control") {
		if r.Actor == "alice" && r.Correlation == g.Data["request_id"] && strings.HasSuffix(r.Data["path"], "/approve") {
			found = true
		}
	}
	if !found {
		t.Fatal("the approving request is not in the control chain with its request id")
	}
	// A second decision is refused.
	if code, _ := api(t, e, "POST", "/v1/incidents/"+id+"/deny", alice, nil); code != http.StatusConflict {
		t.Fatalf("deciding a settled incident: %d, want 409", code)
	}
}

// Deciding through the API is checked against the approval it names: an
// approval of another incident, or one that does not exist, is 404 whoever
// asks (and decides nothing); a token with the approve scope that is not an
// approver is 403; an admin token that is not an approver decides, and the
// incident and the approval.granted record say it was an admin override.
func TestApprovalAdminOverride(t *testing.T) {
	e := startApproval(t, "1h", "abort", stack.Options{})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 44, "d-apr-admin")
	_, _, other := leakAlert(t, e, "acme/payments-api", 45, "d-apr-other")
	waitState(t, e, id, incident.AwaitingApproval)
	otherApr := waitState(t, e, other, incident.AwaitingApproval).PendingApproval().ID

	bob := newToken(t, e, "bob", tokens.Approve)
	alice := newToken(t, e, "alice", tokens.Approve)
	carol := newToken(t, e, "carol", tokens.Admin)
	for _, c := range []struct {
		who, token, approval string
	}{
		{"bob, no approver", bob, otherApr},
		{"alice, an approver", alice, otherApr},
		{"carol, an admin", carol, otherApr},
		{"carol, an admin", carol, "apr_0123456789abcdef01234567"},
	} {
		code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", c.token, map[string]string{"approval": c.approval})
		if code != http.StatusNotFound {
			t.Fatalf("%s approving %s through incident %s: %d %s, want 404", c.who, c.approval, id, code, body)
		}
	}
	if code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", bob, nil); code != http.StatusForbidden ||
		!strings.Contains(string(body), "bob may not decide") {
		t.Fatalf("bob, not an approver: %d %s", code, body)
	}

	code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", carol, map[string]string{"comment": "on-call lead"})
	var ans app.DecisionAnswer
	if code != http.StatusOK || json.Unmarshal(body, &ans) != nil || ans.Decision == nil || ans.Decision.By != "carol (admin override)" {
		t.Fatalf("carol, an admin, approves: %d %s", code, body)
	}
	in := waitState(t, e, id, incident.Contained)
	if e.OpenAI.Live(raw) {
		t.Fatal("the key is live after the approval")
	}
	if a := in.Approvals[0]; a.State != incident.ApprovalApproved || a.DecidedBy != "carol (admin override)" || a.Via != "api" {
		t.Fatalf("approval record: %+v", a)
	}
	if g := findRecord(auditRecords(t, e, id), audit.KindApprovalGranted); g == nil || g.Actor != "carol (admin override)" {
		t.Fatalf("approval.granted record: %+v", g)
	}
	// The other incident was decided by none of the refused requests.
	if in := waitState(t, e, other, incident.AwaitingApproval); in.PendingApproval() == nil || in.PendingApproval().ID != otherApr {
		t.Fatalf("the other incident's approval: %+v", in.Approvals)
	}
	if g := findRecord(auditRecords(t, e, other), audit.KindApprovalGranted); g != nil {
		t.Fatalf("the other incident was approved: %+v", g)
	}
}

// Slack: a forged or stale callback is refused with nothing decided; a real
// click by an approver decides; a denial stops the playbook before revoking.
func TestApprovalThroughSlack(t *testing.T) {
	e := startApproval(t, "1h", "abort", stack.Options{})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 42, "d-apr-slack")
	waitState(t, e, id, incident.AwaitingApproval)
	msg := e.Slack.Messages()[0]
	cb := e.URL + "/v1/approvals/slack"
	ctx := context.Background()
	alice := slackemu.User{ID: "U0ALICE", Username: "alice.s", TeamID: "T0ACME"}

	status := func(resp *http.Response, err error) int {
		t.Helper()
		must(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if c := status(e.Slack.Click(ctx, cb, []byte("not-the-signing-secret"), msg, "firebreak_deny", alice, time.Now())); c != http.StatusUnauthorized {
		t.Fatalf("forged signature: %d, want 401", c)
	}
	if c := status(e.Slack.Click(ctx, cb, []byte(slackSigning), msg, "firebreak_deny", alice, time.Now().Add(-6*time.Minute))); c != http.StatusUnauthorized {
		t.Fatalf("a 6-minute-old timestamp: %d, want 401", c)
	}
	mallory := slackemu.User{ID: "U0MALLORY", Username: "mallory", TeamID: "T0ACME"}
	if c := status(e.Slack.Click(ctx, cb, []byte(slackSigning), msg, "firebreak_deny", mallory, time.Now())); c != http.StatusForbidden {
		t.Fatalf("a click by someone not an approver: %d, want 403", c)
	}
	if in, _, _ := e.App.Incidents.Get(ctx, id); in.State != incident.AwaitingApproval {
		t.Fatalf("refused callbacks decided something: %s", in.State)
	}
	if c := status(e.Slack.Click(ctx, cb, []byte(slackSigning), msg, "firebreak_deny", alice, time.Now())); c != http.StatusOK {
		t.Fatalf("alice denies: %d", c)
	}
	in := waitState(t, e, id, incident.Completed)
	if n := deletes(e.OpenAI.Server()); n != 0 || !e.OpenAI.Live(raw) {
		t.Fatalf("a denied revocation happened: %d DELETEs", n)
	}
	if s := in.Step("openai-approve/approve"); s.State != incident.StepDenied {
		t.Fatalf("approve step: %+v", s)
	}
	if s := in.Step("openai-approve/revoke"); s == nil || s.State != incident.StepSkipped {
		t.Fatalf("revoke step after a denial: %+v", s)
	}
	d := findRecord(auditRecords(t, e, id), audit.KindApprovalDenied)
	if d == nil || d.Data["via"] != "slack" || !strings.Contains(d.Actor, "U0ALICE") {
		t.Fatalf("approval.denied record: %+v", d)
	}
}

// A signed link: opening it decides nothing, its POST decides once, a reused
// or altered link is refused.
func TestApprovalThroughSignedLink(t *testing.T) {
	e := startApproval(t, "1h", "abort", stack.Options{})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 43, "d-apr-link")
	waitState(t, e, id, incident.AwaitingApproval)
	link := e.Webhook.Messages()[0].Links["approve:alice"]
	if !strings.HasPrefix(link, e.URL+"/v1/approvals/apr_") {
		t.Fatalf("approval link %q", link)
	}
	get := func(u string) int {
		resp, err := http.Get(u)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	postLink := func(u string) (int, string) {
		resp, err := http.Post(u, "application/x-www-form-urlencoded", nil)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c := get(link); c != http.StatusOK {
		t.Fatalf("opening the link: %d", c)
	}
	if in, _, _ := e.App.Incidents.Get(context.Background(), id); in.State != incident.AwaitingApproval {
		t.Fatal("opening a link decided")
	}
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("for", "mallory") // the signature covers who the link was made for
	u.RawQuery = q.Encode()
	if c, _ := postLink(u.String()); c != http.StatusUnauthorized {
		t.Fatalf("an altered link: %d, want 401", c)
	}
	if c, body := postLink(link); c != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("using the link: %d %s", c, body)
	}
	if c, body := postLink(link); c != http.StatusConflict {
		t.Fatalf("reusing the link: %d %s, want 409", c, body)
	}
	in := waitState(t, e, id, incident.Contained)
	if deletes(e.OpenAI.Server()) != 1 || e.OpenAI.Live(raw) {
		t.Fatal("the approved key was not revoked exactly once")
	}
	if a := in.Approvals[0]; a.DecidedBy != "alice" || a.Via != "link" {
		t.Fatalf("approval: %+v", a)
	}
	if c, _ := postLink(link); c != http.StatusConflict {
		t.Fatalf("a link after the incident settled: %d, want 409", c)
	}
}

// Nobody answers: on_timeout decides, both ways.
func TestApprovalTimeout(t *testing.T) {
	for _, tc := range []struct {
		onTimeout string
		want      incident.State
		deletes   int
	}{{"proceed", incident.Contained, 1}, {"abort", incident.Completed, 0}} {
		t.Run(tc.onTimeout, func(t *testing.T) {
			e := startApproval(t, "1s", tc.onTimeout, stack.Options{})
			_, _, id := leakAlert(t, e, "acme/payments-api", 44, "d-apr-to-"+tc.onTimeout)
			in := waitState(t, e, id, tc.want)
			if n := deletes(e.OpenAI.Server()); n != tc.deletes {
				t.Fatalf("on_timeout %s: %d DELETEs, want %d", tc.onTimeout, n, tc.deletes)
			}
			if a := in.Approvals[0]; a.State != incident.ApprovalTimedOut || a.Via != "timeout" {
				t.Fatalf("approval: %+v", a)
			}
			if findRecord(auditRecords(t, e, id), audit.KindApprovalTimedOut) == nil {
				t.Fatal("no approval.timed_out record")
			}
		})
	}
}

// The deadline lives in the approvals bucket: Firebreak stopped while an
// incident waits, and started again after the deadline, still times it out.
func TestApprovalTimeoutSurvivesRestart(t *testing.T) {
	e := startApproval(t, "2s", "proceed", stack.Options{})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 45, "d-apr-restart")
	in := waitState(t, e, id, incident.AwaitingApproval)
	e.StopApp()
	time.Sleep(time.Until(in.PendingApproval().Deadline)) // the deadline passes while nothing runs
	must(t, e.RestartApp(context.Background(), responders.Hooks{}))
	waitState(t, e, id, incident.Contained)
	if deletes(e.OpenAI.Server()) != 1 || e.OpenAI.Live(raw) {
		t.Fatal("the key was not revoked once after the restart")
	}
}

// An approval step's group is resolved from the owners file's groups: a
// member decides, a token holder outside it is refused.
func TestApprovalByOwnersFileGroup(t *testing.T) {
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	must(t, os.MkdirAll(pbDir, 0o755))
	pb := strings.Replace(fmt.Sprintf(approvalPlaybook, "1h", "abort"), "approvers: [alice, U0ALICE]", "approvers: [alice]\n      group: sec-leads", 1)
	must(t, os.WriteFile(filepath.Join(pbDir, "approve.yaml"), []byte(pb), 0o644))
	ownersFile := filepath.Join(dir, "owners.yaml")
	must(t, os.WriteFile(ownersFile, []byte("groups:\n  sec-leads: [carol, U0CAROL]\n"), 0o644))
	e := startApproval(t, "1h", "abort", stack.Options{Configure: func(c *config.Config) {
		c.Playbooks.Dir = pbDir
		c.Owners.File = ownersFile
	}})
	raw, _, id := leakAlert(t, e, "acme/payments-api", 43, "d-apr-group")
	waitState(t, e, id, incident.AwaitingApproval)
	bob := newToken(t, e, "bob", tokens.Approve)
	if code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", bob, nil); code != http.StatusForbidden {
		t.Fatalf("bob, in no group: %d %s", code, body)
	}
	carol := newToken(t, e, "carol", tokens.Approve)
	if code, body := api(t, e, "POST", "/v1/incidents/"+id+"/approve", carol, nil); code != http.StatusOK {
		t.Fatalf("carol, a sec-leads member: %d %s", code, body)
	}
	in := waitState(t, e, id, incident.Contained)
	if a := in.Approvals[0]; a.DecidedBy != "carol" || e.OpenAI.Live(raw) {
		t.Fatalf("approval %+v, key live %v", a, e.OpenAI.Live(raw))
	}
}
