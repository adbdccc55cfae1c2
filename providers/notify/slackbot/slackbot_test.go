package slackbot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/slackbot"
	"github.com/firebreak-sec/firebreak/providers/slack/slackapiemu"
)

func TestPostsToChannelAndUser(t *testing.T) {
	emu := slackapiemu.New()
	base := emu.Start()
	defer emu.Close()
	tok := emu.AddToken("xoxb-", "firebreak", "acme")
	sec := emu.AddChannel("#sec-incidents", "UFIREBREAK")
	team := emu.AddChannel("#payments-oncall") // the bot is not a member
	emu.AddUser("U0ADA")
	n, err := slackbot.New(slackbot.Config{BaseURL: base, Token: secret.Static(secret.New(tok)), DefaultChannel: "#sec-incidents"})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{Incident: "inc_1", Title: "Leaked key", Text: "Revoked sk-…abcd", Redacted: "sk-…abcd", Severity: "critical"}
	ctx := context.Background()
	if retry, err := n.Notify(ctx, m); err != nil || retry {
		t.Fatalf("default channel = %v, %v", retry, err)
	}
	m.Channel = "U0ADA"
	if _, err := n.Notify(ctx, m); err != nil {
		t.Fatalf("DM = %v", err)
	}
	msgs := emu.Messages()
	if len(msgs) != 2 || msgs[0].Channel != sec || !strings.HasPrefix(msgs[1].Channel, "D") || !strings.Contains(string(msgs[0].Blocks), "sk-…abcd") {
		t.Fatalf("messages %+v", msgs)
	}
	m.Channel = team
	retry, err := n.Notify(ctx, m)
	if retry || err == nil || !strings.Contains(err.Error(), "not_in_channel") {
		t.Fatalf("not a member = %v, %v", retry, err)
	}
	emu.Inject(emulator.Fault{Count: 1, Status: 429, RetryAfter: "3"})
	if retry, err := n.Notify(ctx, m); !retry || err == nil {
		t.Fatalf("429 = %v, %v", retry, err)
	}
	// A user token without chat:write: permanent, naming the scope, no token.
	ut := emu.AddToken("xoxp-", "ada", "acme", "users:read")
	u, _ := slackbot.New(slackbot.Config{BaseURL: base, Token: secret.Static(secret.New(ut)), DefaultChannel: sec})
	m.Channel = ""
	retry, err = u.Notify(ctx, m)
	if retry || err == nil || !strings.Contains(err.Error(), "chat:write") || strings.Contains(err.Error(), ut) {
		t.Fatalf("missing scope = %v, %v", retry, err)
	}
}
