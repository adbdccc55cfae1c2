package owners_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/responders/owners"
)

// acmeAPI starts a GitHub emulator holding the repository acme/api and
// returns it with a contents/commits client authenticated to it.
func acmeAPI(t *testing.T) (*githubemu.Emulator, *owners.GitHubAPI) {
	t.Helper()
	emu := githubemu.New()
	base := emu.Start()
	t.Cleanup(emu.Close)
	tok := emu.AddToken("ghp_", "firebreak-bot")
	emu.AddRepo("acme", "api")
	return emu, owners.NewGitHubAPI(base, secret.Static(secret.New(tok)), nil)
}

// TestGitHubAPIAgainstEmulator reads CODEOWNERS and a commit author over the
// contents and commits endpoints.
func TestGitHubAPIAgainstEmulator(t *testing.T) {
	emu, api := acmeAPI(t)
	emu.SetFile("acme", "api", ".github/CODEOWNERS", "config/ @acme/platform\n")
	emu.SetCommit("acme", "api", githubemu.Commit{SHA: "abc123", AuthorName: "Ada", AuthorEmail: "ada@example.com", Login: "ada"})
	r := &owners.Resolver{GitHub: api}
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

// TestCachedFilesAsksGitHubOncePerTTL: a storm of exposures out of one
// repository reads its CODEOWNERS from GitHub once, concurrent lookups
// included; the answer (a file, or its absence) is asked again once the TTL
// has passed, so a CODEOWNERS change applies; a failed read is not kept.
func TestCachedFilesAsksGitHubOncePerTTL(t *testing.T) {
	emu, api := acmeAPI(t)
	emu.SetFile("acme", "api", "CODEOWNERS", "*.env @acme/platform\n")
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cache := &owners.CachedFiles{GitHub: api, TTL: time.Minute, Now: clock}
	r := &owners.Resolver{GitHub: cache}
	ev := &exposure.Event{Location: exposure.Location{Repo: "acme/api", Path: "prod.env"}}
	contents := func() int { return emu.Server().Count("GET /repos/acme/api/contents/") }

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := r.Resolve(context.Background(), ev, providers.Credential{}); got.Team != "@acme/platform" || got.Rule != "codeowners" {
				t.Errorf("owner = %+v", got)
			}
		}()
	}
	wg.Wait()
	// .github/CODEOWNERS (absent), then CODEOWNERS: two reads for 20 lookups.
	if n := contents(); n != 2 {
		t.Fatalf("20 lookups read CODEOWNERS paths %d times, want 2", n)
	}

	emu.SetFile("acme", "api", "CODEOWNERS", "*.env @acme/security\n")
	if got := r.Resolve(context.Background(), ev, providers.Credential{}); got.Team != "@acme/platform" {
		t.Fatalf("within the TTL: %+v", got)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got := r.Resolve(context.Background(), ev, providers.Credential{}); got.Team != "@acme/security" {
		t.Fatalf("after the TTL the change applies: %+v", got)
	}
	if n := contents(); n != 4 {
		t.Fatalf("after the TTL: %d reads, want 4", n)
	}

	// A failed read is not kept: the next lookup asks again.
	emu.Server().Inject(emulator.Fault{Match: "GET /repos/acme/api/contents/.github/CODEOWNERS", Count: 1, Status: http.StatusBadGateway})
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got := r.Resolve(context.Background(), ev, providers.Credential{}); got.Rule == "codeowners" {
		t.Fatalf("a lookup whose read failed still found %+v", got)
	}
	if got := r.Resolve(context.Background(), ev, providers.Credential{}); got.Team != "@acme/security" {
		t.Fatalf("the failure was kept: %+v", got)
	}
}
