package owners_test

import (
	"context"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/owners"
)

// FuzzParse: an owners file either parses, with every rule naming an owner,
// or is refused with an error naming the file; a parsed file resolves any
// exposure without panicking, to a rule of the file or the default.
func FuzzParse(f *testing.F) {
	f.Add([]byte(ownersYAML))
	f.Add([]byte("owners:\n  - match: {repos: ['[']}\n    owner: {team: x}\n"))
	f.Add([]byte("default: {team: sec}\ndirectory: {\"@a/b\": {slack: '#x'}}\n"))
	f.Add([]byte("owners: [{match: {paths: ['**/**/x']}, owner: {email: a@b.c}}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := owners.Parse("owners.yaml", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "owners.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		r := &owners.Resolver{File: file}
		for _, e := range []*exposure.Event{
			ev("openai", "", "acme/api", "config/prod.env", "abc", map[string]string{"env": "prod"}, ""),
			ev("aws", "AKIA0000", "", "", "", nil, "PAY-1"),
			ev("", "", "", "", "", nil, ""),
		} {
			o := r.Resolve(context.Background(), e, providers.Credential{})
			if o.Rule == "" {
				t.Fatal("an owner without the rule that answered")
			}
		}
	})
}

// FuzzCodeOwners: CODEOWNERS content comes from repositories (anyone who
// can commit writes it). Any content and path resolve, in polynomial time,
// to owners taken from the content.
func FuzzCodeOwners(f *testing.F) {
	f.Add("* @all\n*.env @envs\n/build/ @builders\napps/ @apps\nsecrets.yml\n", "apps/web/a.go")
	f.Add(strings.Repeat("**/", 30)+"x @a\n", strings.Repeat("a/", 30)+"b")
	f.Add("[ @x\n\\ @y\n# c\n", "[")
	f.Fuzz(func(t *testing.T, content, file string) {
		for _, o := range owners.CodeOwners(content, file) {
			if !strings.Contains(content, o) {
				t.Fatalf("owner %q is not in the content", o)
			}
		}
	})
}

// FuzzGlob: any pattern and path, in polynomial time; a literal pattern
// matches itself.
func FuzzGlob(f *testing.F) {
	f.Add("services/**/config/*.env", "services/a/b/config/prod.env")
	f.Add(strings.Repeat("**/a/", 20)+"b", strings.Repeat("a/", 30)+"c")
	f.Add("[", "[")
	f.Fuzz(func(t *testing.T, p, v string) {
		owners.Glob(p, v)
		if !strings.ContainsAny(v, "*?[\\") && strings.Count(v, "/") < 256 && !owners.Glob(v, v) {
			t.Fatalf("a literal path does not match itself: %q", v)
		}
	})
}
