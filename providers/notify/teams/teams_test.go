package teams_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/teams"
	"github.com/firebreak-sec/firebreak/providers/notify/teams/teamsemu"
)

func TestCardAndClassification(t *testing.T) {
	emu := teamsemu.New()
	emu.Start()
	defer emu.Close()
	hook := emu.AddHook("Security")
	n, err := teams.New(teams.Config{WebhookURL: secret.Static(secret.New(hook))})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{Incident: "inc_01T", Severity: "critical", Title: "Leaked Replicate token", Text: "Disable it at https://replicate.com/account/api-tokens",
		Provider: "replicate", Redacted: "r8_…wxyz", WhereURL: "https://github.com/acme/x/blob/a/b#L1", Actions: []string{"revoke: escalated"}}
	if retry, err := n.Notify(context.Background(), m); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	cards := emu.Cards()
	if len(cards) != 1 || cards[0].Hook != "Security" || cards[0].Facts["Key"] != "r8_…wxyz" || cards[0].URLs[0] != m.WhereURL ||
		!strings.Contains(strings.Join(cards[0].Texts, "\n"), "replicate.com/account/api-tokens") {
		t.Fatalf("cards %+v", cards)
	}
	// A connector's "delivery failed … HTTP error 429" inside a 200 is retryable.
	emu.Inject(emulator.Fault{Count: 1, Status: 200, Body: "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"})
	if retry, err := n.Notify(context.Background(), m); !retry || err == nil {
		t.Fatalf("200-with-429 = %v, %v", retry, err)
	}
	emu.Inject(emulator.Fault{Count: 1, Status: 400})
	retry, err := n.Notify(context.Background(), m)
	if retry || err == nil || strings.Contains(err.Error(), hook) || strings.Contains(err.Error(), "IncomingWebhook/") {
		t.Fatalf("400 = %v, %v", retry, err)
	}
	// An unknown hook: permanent, the URL not in the error.
	gone, _ := teams.New(teams.Config{WebhookURL: secret.Static(secret.New(emu.URL() + "/webhookb2/x@y/IncomingWebhook/secretpart1234/z"))})
	retry, err = gone.Notify(context.Background(), m)
	if retry || err == nil || strings.Contains(err.Error(), "secretpart1234") {
		t.Fatalf("unknown hook = %v, %v", retry, err)
	}
}
