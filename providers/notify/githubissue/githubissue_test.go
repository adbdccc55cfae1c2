package githubissue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/githubissue"
)

func TestOneIssuePerIncident(t *testing.T) {
	emu := githubemu.New()
	base := emu.Start()
	defer emu.Close()
	tok := emu.AddToken("ghp_", "firebreak-bot")
	emu.AddRepo("acme", "security")
	n, err := githubissue.New(githubissue.Config{BaseURL: base, Token: secret.Static(secret.New(tok)), Repo: "acme/security", Labels: []string{"leak"}})
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{Incident: "inc_01GH", Title: "Leaked Hugging Face token", Text: "Delete it at https://huggingface.co/settings/tokens",
		Provider: "huggingface", Redacted: "hf_…wxyz", Where: "acme/ml: train.py:9", WhereURL: "https://github.com/acme/ml/blob/a/train.py#L9"}
	ctx := context.Background()
	for range 2 {
		if retry, err := n.Notify(ctx, m); err != nil || retry {
			t.Fatalf("Notify = %v, %v", retry, err)
		}
	}
	issues := emu.Issues("acme", "security")
	if len(issues) != 1 || len(issues[0].Comments) != 1 || issues[0].Title != m.Title || issues[0].Author != "firebreak-bot" ||
		strings.Join(issues[0].Labels, ",") != "firebreak,leak" || !strings.Contains(issues[0].Body, "huggingface.co/settings/tokens") {
		t.Fatalf("issues %+v", issues)
	}
	m2 := m
	m2.Incident = "inc_02GH"
	if _, err := n.Notify(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if got := len(emu.Issues("acme", "security")); got != 2 {
		t.Fatalf("%d issues for two incidents", got)
	}
	// Errors: disabled issues (410) permanent; 5xx retryable; a repo override that does not exist, permanent 404.
	emu.DisableIssues("acme", "security")
	m.Incident = "inc_03GH"
	if retry, err := n.Notify(ctx, m); retry || err == nil || !strings.Contains(err.Error(), "410") {
		t.Fatalf("disabled = %v, %v", retry, err)
	}
	emu.Server().Inject(emulator.Fault{Count: 1, Status: 502})
	if retry, err := n.Notify(ctx, m); !retry || err == nil {
		t.Fatalf("502 = %v, %v", retry, err)
	}
	m.Channel = "acme/nope"
	if retry, err := n.Notify(ctx, m); retry || err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), tok) {
		t.Fatalf("missing repo = %v, %v", retry, err)
	}
}
