package jira_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/jira"
)

func TestOneTicketPerIncidentInTheOwnersProject(t *testing.T) {
	emu := jiraemu.New()
	base := emu.Start()
	defer emu.Close()
	tok := emu.AddUser("firebreak@example.com")
	emu.AddProject("SEC")
	emu.AddProject("PAY")
	n, err := jira.New(jira.Config{BaseURL: base, Email: "firebreak@example.com", APIToken: secret.Static(secret.New(tok)), Project: "SEC"})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{Incident: "inc_01J", Title: "Leaked Perplexity key", Text: "Delete it at https://www.perplexity.ai/account/api/keys",
		Provider: "perplexity", Redacted: "pplx-…abcd", Actions: []string{"revoke: escalated"}}
	ctx := context.Background()
	for range 2 {
		if retry, err := n.Notify(ctx, m); err != nil || retry {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	}
	sec := emu.Issues("SEC")
	if len(sec) != 1 || sec[0].Key != "SEC-1" || len(sec[0].Comments) != 1 || !strings.Contains(string(sec[0].Description), "perplexity.ai/account/api/keys") {
		t.Fatalf("SEC issues %+v", sec)
	}
	m.Channel = "PAY" // the owner's project
	m.Incident = "inc_02J"
	if _, err := n.Notify(ctx, m); err != nil {
		t.Fatal(err)
	}
	if pay := emu.Issues("PAY"); len(pay) != 1 || pay[0].Key != "PAY-1" {
		t.Fatalf("PAY issues %+v", pay)
	}
	m.Channel = "NOPE"
	if retry, err := n.Notify(ctx, m); retry || err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown project = %v, %v", retry, err)
	}
	emu.Server().Inject(emulator.Fault{Count: 1, Status: 429, RetryAfter: "2"})
	m.Channel = ""
	if retry, err := n.Notify(ctx, m); !retry || err == nil {
		t.Fatalf("429 = %v, %v", retry, err)
	}
	bad, _ := jira.New(jira.Config{BaseURL: base, Email: "firebreak@example.com", APIToken: secret.Static(secret.New("wrong-token-abcdefgh")), Project: "SEC"})
	if retry, err := bad.Notify(ctx, m); retry || err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("bad token = %v, %v", retry, err)
	}
}
