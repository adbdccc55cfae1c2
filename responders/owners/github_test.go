package owners_test

import (
	"context"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/responders/owners"
)

// TestGitHubAPIAgainstEmulator reads CODEOWNERS and a commit author over the
// contents and commits endpoints.
func TestGitHubAPIAgainstEmulator(t *testing.T) {
	emu := githubemu.New()
	base := emu.Start()
	defer emu.Close()
	tok := emu.AddToken("ghp_", "firebreak-bot")
	emu.AddRepo("acme", "api")
	emu.SetFile("acme", "api", ".github/CODEOWNERS", "config/ @acme/platform\n")
	emu.SetCommit("acme", "api", githubemu.Commit{SHA: "abc123", AuthorName: "Ada", AuthorEmail: "ada@example.com", Login: "ada"})
	r := &owners.Resolver{GitHub: owners.NewGitHubAPI(base, secret.Static(secret.New(tok)), nil)}
	cred := providers.Credential{}
	got := r.Resolve(context.Background(), &exposure.Event{Location: exposure.Location{Repo: "acme/api", Path: "config/prod.env", Commit: "abc123"}}, cred)
	if got.Team != "@acme/platform" || got.Rule != "codeowners" {
		t.Fatalf("codeowners = %+v", got)
	}
	got = r.Resolve(context.Background(), &exposure.Event{Location: exposure.Location{Repo: "acme/api", Path: "main.go", Commit: "abc123"}}, cred)
	if got.Email != "ada@example.com" || got.GitHub != "@ada" || got.Rule != "commit_author" {
		t.Fatalf("commit author = %+v", got)
	}
}
