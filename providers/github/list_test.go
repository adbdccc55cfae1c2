package github_test

import (
	"testing"

	"github.com/firebreak-sec/firebreak/providers/github"
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
