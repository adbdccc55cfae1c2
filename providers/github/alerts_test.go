package github_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func alertSource(t *testing.T, emu *githubemu.Emulator, tok string) *github.AlertSource {
	t.Helper()
	src, err := github.NewAlertSource(github.AlertSourceConfig{
		BaseURL: emu.URL(),
		Token: secret.SourceFunc(func(ctx context.Context) (secret.Value, error) {
			return secret.New(tok), nil // resolved per request, as from Vault
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestAlertSecretAndLocations(t *testing.T) {
	emu := githubemu.New()
	emu.Start()
	t.Cleanup(emu.Close)
	reader := emu.AddToken(github.PrefixPAT, "security-bot")
	leaked := openaiemu.NewKeyValue("sk-proj-")
	locs := []githubemu.Location{{Path: "app/settings.py", StartLine: 3, EndLine: 3, StartColumn: 11, EndColumn: 11 + len(leaked)}}
	for i := range 120 { // more than one page of 100
		locs = append(locs, githubemu.Location{Path: fmt.Sprintf("gen/f%03d.env", i), StartLine: i + 1, EndLine: i + 1, StartColumn: 1, EndColumn: 10})
	}
	locs = append(locs,
		githubemu.Location{Type: "wiki_commit", Path: "Home.md", StartLine: 2, EndLine: 2, StartColumn: 1, EndColumn: 9},
		githubemu.Location{Type: "issue_comment", URL: "https://api.github.com/repos/acme/web/issues/comments/1081119451"},
		githubemu.Location{Type: "pull_request_body", URL: "https://api.github.com/repos/acme/web/pulls/2846"},
		githubemu.Location{Type: "discussion_comment", URL: "https://github.com/acme/web/discussions/39082#discussioncomment-4158232"},
	)
	n := emu.AddAlert("acme", "web", "openai_api_key", leaked, locs...)
	emu.SetValidity("acme", "web", n, "active", true)
	src := alertSource(t, emu, reader)
	ctx := context.Background()

	a, err := src.GetAlert(ctx, "acme", "web", n)
	if err != nil {
		t.Fatalf("GetAlert: %v", err)
	}
	if !a.Secret.Equal(secret.New(leaked)) {
		t.Fatal("alert secret differs from the leaked key")
	}
	if a.Number != n || a.SecretType != "openai_api_key" || a.SecretTypeDisplayName != "OpenAI API Key" || a.State != "open" ||
		a.Validity != "active" || !a.PubliclyLeaked || a.MultiRepo || a.Repo != "acme/web" || !strings.HasSuffix(a.HTMLURL, fmt.Sprintf("/acme/web/security/secret-scanning/%d", n)) ||
		!strings.HasSuffix(a.LocationsURL, "/locations") || a.CreatedAt.IsZero() {
		t.Fatalf("alert fields: %+v", a)
	}
	// The secret never renders, however the alert is printed.
	for _, s := range []string{fmt.Sprintf("%v", a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a)} {
		providertest.AssertNoSecret(t, leaked, s)
	}
	req := emu.Server().Requests()[0]
	if req.Path != fmt.Sprintf("/repos/acme/web/secret-scanning/alerts/%d", n) || req.Header.Get("Authorization") != "Bearer "+reader {
		t.Fatalf("alert request %s with auth %q", req.Path, secret.Hint(secret.New(req.Header.Get("Authorization"))))
	}

	got, err := src.Locations(ctx, "acme", "web", n)
	if err != nil {
		t.Fatalf("Locations: %v", err)
	}
	if len(got) != len(locs) {
		t.Fatalf("%d locations, want %d", len(got), len(locs))
	}
	first := got[0]
	if first.Type != "commit" || first.Path != "app/settings.py" || first.StartLine != 3 || first.StartColumn != 11 ||
		len(first.CommitSHA) != 40 || !strings.Contains(first.BlobURL, "/git/blobs/") {
		t.Fatalf("first location %+v", first)
	}
	last := got[len(got)-3:]
	if last[0].Type != "issue_comment" || last[0].URL != locs[len(locs)-3].URL || last[1].URL != locs[len(locs)-2].URL || last[2].URL != locs[len(locs)-1].URL {
		t.Fatalf("non-file locations %+v", last)
	}
	if pages := emu.Server().Count("GET /repos/acme/web/secret-scanning/alerts/1/locations"); pages != 2 {
		t.Fatalf("%d location pages fetched, want 2", pages)
	}

	// The exposure event's location, with a link a person can open.
	el := a.ExposureLocation(first)
	if el.Repo != "acme/web" || el.Path != "app/settings.py" || el.Line != 3 || el.Commit != first.CommitSHA ||
		el.URL != "https://github.com/acme/web/blob/"+first.CommitSHA+"/app/settings.py#L3" {
		t.Fatalf("exposure location %+v", el)
	}
	if el := a.ExposureLocation(last[1]); el.URL != locs[len(locs)-2].URL {
		t.Fatalf("exposure location of a PR body %+v", el)
	}
	wiki := got[len(got)-4]
	if wiki.Type != "wiki_commit" || wiki.Path != "Home.md" || wiki.StartLine != 2 || len(wiki.CommitSHA) != 40 ||
		!strings.Contains(wiki.PageURL, "/acme/web/wiki/") {
		t.Fatalf("wiki location %+v", wiki)
	}
	if el := a.ExposureLocation(wiki); el.URL != wiki.PageURL {
		t.Fatalf("exposure location of a wiki commit %+v", el)
	}
}

func TestAlertErrors(t *testing.T) {
	emu := githubemu.New()
	emu.Start()
	t.Cleanup(emu.Close)
	reader := emu.AddToken(github.PrefixPAT, "security-bot")
	n := emu.AddAlert("acme", "web", github.TypePAT, github.NewToken(github.PrefixPAT))
	ctx := context.Background()

	classOf := func(err error) (providers.Class, time.Duration, int) {
		var pe *providers.Error
		if !errors.As(err, &pe) {
			t.Fatalf("not a *providers.Error: %v", err)
		}
		return pe.Class, pe.RetryAfter, pe.Status
	}

	src := alertSource(t, emu, reader)
	if _, err := src.GetAlert(ctx, "acme", "web", 99); err == nil {
		t.Fatal("missing alert found")
	} else if c, _, s := classOf(err); c != providers.Permanent || s != 404 {
		t.Fatalf("missing alert: %v", err)
	}

	bad := alertSource(t, emu, github.NewToken(github.PrefixPAT))
	_, err := bad.GetAlert(ctx, "acme", "web", n)
	if c, _, s := classOf(err); c != providers.Permanent || s != 401 || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("bad token: %v", err)
	}

	emu.Server().Inject(emulator.Fault{Match: "GET /repos/", Count: 1, Status: 503})
	_, err = src.GetAlert(ctx, "acme", "web", n)
	if c, _, _ := classOf(err); c != providers.Retryable {
		t.Fatalf("503: %v", err)
	}

	// A cancelled context is retryable.
	emu.Server().Inject(emulator.Fault{Match: "GET /repos/", Count: 1, Delay: 10 * time.Second})
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = src.GetAlert(cctx, "acme", "web", n)
	if c, _, _ := classOf(err); c != providers.Retryable {
		t.Fatalf("cancelled: %v", err)
	}

	// A secondary rate limit: 403 with Retry-After and the documented URL.
	emu.Server().Inject(emulator.Fault{Match: "GET /repos/", Count: 1, Status: 403, RetryAfter: "30",
		Body: `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`})
	_, err = src.Locations(ctx, "acme", "web", n)
	if c, after, _ := classOf(err); c != providers.Retryable || after != 30*time.Second {
		t.Fatalf("secondary rate limit: %v", err)
	}

	// go-github remembers it: the next call is refused without a request.
	before := emu.Server().Count("GET /repos/")
	_, err = src.GetAlert(ctx, "acme", "web", n)
	if c, after, _ := classOf(err); c != providers.Retryable || after <= 0 || emu.Server().Count("GET /repos/") != before {
		t.Fatalf("during the secondary limit: %v", err)
	}

	// The token source failing is reported, classified, without a secret.
	failing, _ := github.NewAlertSource(github.AlertSourceConfig{BaseURL: emu.URL(), Token: secret.Env("FIREBREAK_TEST_UNSET_GH_TOKEN")})
	_, err = failing.GetAlert(ctx, "acme", "web", n)
	if err == nil || !errors.Is(err, secret.ErrNoSecret) {
		t.Fatalf("unset token: %v", err)
	}

	// A name GitHub would not have is refused before any request.
	before = len(emu.Server().Requests())
	for _, or := range [][2]string{{"acme", "../web"}, {"ac/me", "web"}, {"acme", "web?x=1"}, {"", "web"}} {
		_, err := src.GetAlert(ctx, or[0], or[1], n)
		if c, _, _ := classOf(err); c != providers.Permanent || !strings.Contains(err.Error(), "not a GitHub owner or repository name") {
			t.Fatalf("GetAlert(%q, %q): %v", or[0], or[1], err)
		}
		if _, err := src.Locations(ctx, or[0], or[1], n); err == nil {
			t.Fatalf("Locations(%q, %q) accepted", or[0], or[1])
		}
	}
	if len(emu.Server().Requests()) != before {
		t.Fatal("a bad name was sent")
	}

	if _, err := github.NewAlertSource(github.AlertSourceConfig{BaseURL: "::not a url", Token: secret.Static(secret.New("x"))}); err == nil {
		t.Fatal("bad base URL accepted")
	}
	if _, err := github.NewAlertSource(github.AlertSourceConfig{}); err == nil {
		t.Fatal("missing token source accepted")
	}
}
