package jira_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets/adf"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/jira"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
)

// TestClientAgainstEmulator: Basic auth, issue and comment reads and edits,
// Jira's error shape, and failure classes (401 permanent, 429 retryable
// with Retry-After, 404 naming the issue).
func TestClientAgainstEmulator(t *testing.T) {
	emu := jiraemu.New()
	emu.Start()
	defer emu.Close()
	tok := emu.AddUser("bot@example.com")
	c, err := jira.New(jira.Config{BaseURL: emu.URL(), Email: "bot@example.com", APIToken: secret.Static(secret.New(tok))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := emu.AddIssue("PAY", "summary", adf.FromText("line one\nline two"))
	cid := emu.AddComment(key, adf.FromText("hello"), "bob")

	is, err := c.GetIssue(ctx, key)
	if err != nil || is.Summary != "summary" || !adf.IsDoc(is.Description) {
		t.Fatalf("GetIssue: %+v %v", is, err)
	}
	if err := c.SetSummary(ctx, key, "new summary"); err != nil {
		t.Fatal(err)
	}
	body, err := c.GetComment(ctx, key, cid)
	if err != nil {
		t.Fatal(err)
	}
	edited, n, _ := adf.Replace(body, "hello", "bye")
	if n != 1 || c.UpdateComment(ctx, key, cid, edited) != nil || emu.CommentText(key, cid) != "bye\n" {
		t.Fatalf("comment update: %q", emu.CommentText(key, cid))
	}
	id, err := c.AddComment(ctx, key, adf.FromText("notice"))
	if err != nil || id == "" {
		t.Fatal(err)
	}
	all, err := c.CommentBodies(ctx, key)
	if err != nil || len(all) != 2 {
		t.Fatalf("comments: %d %v", len(all), err)
	}
	// A description that is not ADF is refused with Jira's field error.
	err = c.SetDescription(ctx, key, json.RawMessage(`"plain"`))
	if err == nil || !strings.Contains(err.Error(), "description: Operation value must be an Atlassian Document") {
		t.Fatalf("non-ADF description: %v", err)
	}
	// Unknown issue: 404 with Jira's message, permanent.
	_, err = c.GetIssue(ctx, "PAY-999")
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Status != 404 || pe.Class != providers.Permanent || !strings.Contains(pe.Message, "Issue does not exist") {
		t.Fatalf("404: %v", err)
	}
	// Rate limited: retryable with Retry-After.
	emu.Server().Inject(emulator.Fault{Match: "GET /rest/api/3/issue/", Count: 1, Status: 429, RetryAfter: "7"})
	_, err = c.GetIssue(ctx, key)
	if cl, after := providers.Classify(err); cl != providers.Retryable || after.Seconds() != 7 {
		t.Fatalf("429: %v", err)
	}
	// Wrong token: 401, permanent, token not in the error.
	bad, _ := jira.New(jira.Config{BaseURL: emu.URL(), Email: "bot@example.com", APIToken: secret.Static(secret.New("ATATTwrong-token-value"))})
	_, err = bad.GetIssue(ctx, key)
	if !errors.As(err, &pe) || pe.Status != 401 || pe.Class != providers.Permanent || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("401: %v", err)
	}
	// Every request carried Basic auth.
	for _, r := range emu.Server().Requests() {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			t.Fatalf("%s %s without Basic auth", r.Method, r.Path)
		}
	}
}
