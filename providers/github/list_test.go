package github_test

import (
	"context"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
)

// TestScopeValidate: a backfill scope names a repository, organization or
// enterprise GitHub could have; anything else — which go-github would put
// into a request path unescaped — is refused before a request is made.
func TestScopeValidate(t *testing.T) {
	for _, tc := range []struct {
		kind, name string
		ok         bool
	}{
		{github.ScopeRepo, "acme/payments-api", true},
		{github.ScopeRepo, "acme/web.site_v2", true},
		{github.ScopeOrg, "acme", true},
		{github.ScopeEnterprise, "acme-corp", true},
		{github.ScopeRepo, "acme", false},
		{github.ScopeRepo, "acme/", false},
		{github.ScopeRepo, "acme/a/b", false},
		{github.ScopeRepo, "acme/..", false},
		{github.ScopeRepo, "acme/web?x=1", false},
		{github.ScopeRepo, "ac me/web", false},
		{github.ScopeOrg, "", false},
		{github.ScopeOrg, "acme/web", false},
		{github.ScopeOrg, "..", false},
		{github.ScopeEnterprise, "acme%2f..", false},
		{"team", "acme", false},
	} {
		err := github.Scope{Kind: tc.kind, Name: tc.name}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: error %v, want ok=%v", tc.kind, tc.name, err, tc.ok)
		}
	}
}

// TestListAlertsUpdatedAt: a listed alert carries GitHub's updated_at, which
// a resolution and a reopening move; reopened, the alert lists as open with
// no resolution, like one never resolved.
func TestListAlertsUpdatedAt(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 14, 3, 0, time.UTC)
	emu := githubemu.New(githubemu.WithAlertClock(func() time.Time { return now }))
	emu.Start()
	t.Cleanup(emu.Close)
	src := alertSource(t, emu, emu.AddToken(github.PrefixPAT, "security-bot"))
	n := emu.AddAlert("acme", "web", "openai_api_key", "sk-list-updated")
	list := func() []github.ListedAlert {
		t.Helper()
		p, err := src.ListAlerts(context.Background(), github.Scope{Kind: github.ScopeRepo, Name: "acme/web"}, github.Cursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		return p.Alerts
	}
	if got := list(); len(got) != 1 || got[0].Number != n || !got[0].UpdatedAt.Equal(now) || !got[0].CreatedAt.Equal(now) {
		t.Fatalf("new alert listed as %+v", got)
	}
	created := now
	now = now.Add(time.Hour)
	emu.ResolveAlert("acme", "web", n, "false_positive")
	if got := list(); len(got) != 0 {
		t.Fatalf("resolved alert listed as open: %+v", got)
	}
	now = now.Add(time.Hour)
	emu.ReopenAlert("acme", "web", n)
	got := list()
	if len(got) != 1 || got[0].State != "open" || got[0].Resolution != "" || !got[0].UpdatedAt.Equal(now) || !got[0].CreatedAt.Equal(created) {
		t.Fatalf("reopened alert listed as %+v, want open, updated at %s", got, now)
	}
}
