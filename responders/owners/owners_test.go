package owners_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/owners"
)

const ownersYAML = `
owners:
  - name: aws-prod-keys
    match: {providers: [aws], key_ids: [AKIAPAYMENTS00000001]}
    owner: {team: payments, slack: "#payments-oncall", email: payments@example.com, pagerduty: payments}
  - name: billing-code
    match: {repos: ["acme/billing-*"], paths: ["services/**/config/*.env"]}
    owner: {team: billing, slack: "#billing"}
  - name: prod-logs
    match: {labels: {namespace: checkout}}
    owner: {team: checkout, jira: CHK}
  - name: tickets
    match: {jira_projects: [OPS]}
    owner: {team: ops, email: ops@example.com}
directory:
  "@acme/platform": {team: platform, slack: "#platform", pagerduty: platform}
  ada@example.com: {name: Ada, slack: U0ADA}
  "@grace": {name: Grace, slack: U0GRACE}
default: {team: security, slack: "#sec-incidents", email: security@example.com}
`

type fakeGitHub struct {
	files   map[string]string // "owner/repo/path"
	authors map[string][3]string
	err     error
}

func (f fakeGitHub) File(_ context.Context, owner, repo, path string) (string, bool, error) {
	if f.err != nil {
		return "", false, f.err
	}
	c, ok := f.files[owner+"/"+repo+"/"+path]
	return c, ok, nil
}

func (f fakeGitHub) CommitAuthor(_ context.Context, owner, repo, sha string) (string, string, string, error) {
	a, ok := f.authors[sha]
	if !ok {
		return "", "", "", errors.New("no such commit")
	}
	return a[0], a[1], a[2], nil
}

type fakeLookup struct {
	o   providers.Owner
	err error
}

func (f fakeLookup) Owner(context.Context, providers.Credential) (providers.Owner, error) {
	return f.o, f.err
}

func ev(provider, keyID, repo, path, commit string, labels map[string]string, ticket string) *exposure.Event {
	return &exposure.Event{Secret: exposure.Secret{Provider: provider, KeyID: keyID},
		Location: exposure.Location{Repo: repo, Path: path, Commit: commit, Labels: labels, Ticket: ticket}}
}

func TestResolutionOrder(t *testing.T) {
	f, err := owners.Parse("owners.yaml", []byte(ownersYAML))
	if err != nil {
		t.Fatal(err)
	}
	gh := fakeGitHub{
		files: map[string]string{
			"acme/api/.github/CODEOWNERS": "# default\n*       @acme/platform\n/docs/  @acme/docs\nconfig/prod.env ada@example.com\n",
			"acme/web/CODEOWNERS":         "*.js @grace\n",
		},
		authors: map[string][3]string{"c0ffee": {"Linus", "linus@example.com", "linus"}},
	}
	live := providers.Credential{Secret: secret.New("the-leaked-key-value-123")}
	for _, tc := range []struct {
		name   string
		ev     *exposure.Event
		lookup providers.OwnerLookup
		gh     owners.GitHub
		want   playbooks.Owner
	}{
		{"static key id beats everything", ev("aws", "AKIAPAYMENTS00000001", "acme/api", "config/prod.env", "c0ffee", nil, ""), fakeLookup{o: providers.Owner{User: "svc"}}, gh,
			playbooks.Owner{Team: "payments", Slack: "#payments-oncall", Email: "payments@example.com", PagerDuty: "payments", Rule: "owners_file:aws-prod-keys"}},
		{"static repo and path globs", ev("openai", "", "acme/billing-api", "services/invoices/v2/config/prod.env", "", nil, ""), nil, gh,
			playbooks.Owner{Team: "billing", Slack: "#billing", Rule: "owners_file:billing-code"}},
		{"path glob must match", ev("openai", "", "acme/billing-api", "README.md", "", nil, ""), nil, nil,
			playbooks.Owner{Team: "security", Slack: "#sec-incidents", Email: "security@example.com", Rule: "default"}},
		{"log labels", ev("groq", "", "", "", "", map[string]string{"namespace": "checkout"}, ""), nil, nil,
			// no contact of its own: the default's contacts are filled in
			playbooks.Owner{Team: "checkout", Jira: "CHK", Slack: "#sec-incidents", Email: "security@example.com", Rule: "owners_file:prod-logs"}},
		{"jira project", ev("stripe", "", "", "", "", nil, "OPS-42"), nil, nil,
			playbooks.Owner{Team: "ops", Email: "ops@example.com", Rule: "owners_file:tickets"}},
		{"codeowners last match wins, email owner with directory", ev("openai", "", "acme/api", "config/prod.env", "c0ffee", nil, ""), fakeLookup{o: providers.Owner{User: "svc"}}, gh,
			playbooks.Owner{Name: "Ada", Email: "ada@example.com", Slack: "U0ADA", Rule: "codeowners"}},
		{"codeowners team", ev("openai", "", "acme/api", "src/app.py", "", nil, ""), nil, gh,
			playbooks.Owner{Team: "@acme/platform", GitHub: "@acme/platform", Slack: "#platform", PagerDuty: "platform", Rule: "codeowners"}},
		{"codeowners in the root file, user handle", ev("openai", "", "acme/web", "static/app.js", "", nil, ""), nil, gh,
			playbooks.Owner{Name: "Grace", GitHub: "@grace", Slack: "U0GRACE", Rule: "codeowners"}},
		{"no CODEOWNERS: provider owner", ev("openai", "", "acme/other", "app.py", "c0ffee", nil, ""), fakeLookup{o: providers.Owner{User: "ada", Email: "ada@example.com"}}, gh,
			playbooks.Owner{Name: "ada", Email: "ada@example.com", Slack: "U0ADA", Rule: "provider:openai"}},
		{"provider lookup fails: commit author", ev("aws", "AKIAOTHER", "acme/other", "app.py", "c0ffee", nil, ""), fakeLookup{err: errors.New("AccessDenied")}, gh,
			playbooks.Owner{Name: "Linus", Email: "linus@example.com", GitHub: "@linus", Rule: "commit_author"}},
		{"GitHub down: skip to provider", ev("openai", "", "acme/api", "config/prod.env", "c0ffee", nil, ""), fakeLookup{o: providers.Owner{User: "bob"}}, fakeGitHub{err: errors.New("503")},
			playbooks.Owner{Name: "bob", Slack: "#sec-incidents", Email: "security@example.com", Rule: "provider:openai"}},
		{"nothing answers: default", ev("xai", "", "", "", "", nil, ""), nil, gh,
			playbooks.Owner{Team: "security", Slack: "#sec-incidents", Email: "security@example.com", Rule: "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &owners.Resolver{File: f, GitHub: tc.gh}
			if tc.lookup != nil {
				r.Lookup = func(string) (providers.OwnerLookup, bool) { return tc.lookup, true }
			}
			if got := r.Resolve(context.Background(), tc.ev, live); got != tc.want {
				t.Fatalf("Resolve =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
	if got := (&owners.Resolver{}).Resolve(context.Background(), ev("xai", "", "", "", "", nil, ""), live); got.Rule != "none" {
		t.Fatalf("no sources: %+v", got)
	}
}

func TestGlobAndCodeOwners(t *testing.T) {
	for _, tc := range []struct {
		p, v string
		want bool
	}{
		{"services/**/config/*.env", "services/config/prod.env", true},
		{"services/**/config/*.env", "services/a/b/config/prod.env", true},
		{"services/**/config/*.env", "services/a/config/x/prod.env", false},
		{"acme/billing-*", "acme/billing-api", true},
		{"acme/billing-*", "acme/billing/x", false},
		{"**", "anything/at/all", true},
		{"**/**/a/**", "a", true},
		{"a/**/**/b", "a/b", true},
		{"**/a/**/a/**/b", "a/x/a/b", true},
		{"**/a/**/a/**/b", "a/x/b", false},
	} {
		if got := owners.Glob(tc.p, tc.v); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v", tc.p, tc.v, got)
		}
	}
	co := "* @all\n*.env @envs\n/build/ @builders\napps/ @apps\nsecrets.yml\n"
	for file, want := range map[string]string{
		"main.go": "@all", "config/prod.env": "@envs", "build/out/x": "@builders", "src/build/x": "@all",
		"apps/web/a.go": "@apps", "x/apps/b.go": "@apps", "deploy/secrets.yml": "",
	} {
		got := owners.CodeOwners(co, file)
		if (want == "" && len(got) != 0) || (want != "" && (len(got) == 0 || got[0] != want)) {
			t.Errorf("CodeOwners(%s) = %v, want %q", file, got, want)
		}
	}
}

// TestHostileCodeOwnersLine: CODEOWNERS comes from the repository. A line of
// forty "**" segments (or alternating ones) against a deep path once took
// exponential time — minutes per exposure, holding up owner resolution and
// so the revocation; it is now matched in polynomial time.
func TestHostileCodeOwnersLine(t *testing.T) {
	deep := strings.Repeat("a/", 60) + "b"
	for _, p := range []string{strings.Repeat("**/", 40) + "x", strings.Repeat("**/a/", 40) + "x"} {
		if owners.Glob(p, deep) {
			t.Errorf("Glob(%.20s…) matched a path it does not match", p)
		}
		co := p + " @attacker\n* @all\n"
		if got := owners.CodeOwners(co, deep); len(got) != 1 || got[0] != "@all" {
			t.Errorf("CodeOwners with a hostile line = %v", got)
		}
	}
	if !owners.Glob(strings.Repeat("**/a/", 40)+"b", deep) {
		t.Error("forty \"**/a\" and b do not match sixty a's and b")
	}
}

func TestParseRejectsUnknownKeysAndEmptyOwners(t *testing.T) {
	if _, err := owners.Parse("o.yaml", []byte("owners:\n  - match: {provider: [aws]}\n    owner: {team: x}\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
	if _, err := owners.Parse("o.yaml", []byte("owners:\n  - match: {providers: [aws]}\n")); err == nil {
		t.Fatal("rule without owner accepted")
	}
}
