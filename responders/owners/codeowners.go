package owners

import (
	"context"
	"strings"

	"github.com/firebreak-sec/firebreak/playbooks"
)

// codeownersPaths are where GitHub looks for CODEOWNERS, in its order.
var codeownersPaths = []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}

func (r *Resolver) codeowners(ctx context.Context, owner, repo, file string) (playbooks.Owner, bool, error) {
	for _, p := range codeownersPaths {
		content, found, err := r.GitHub.File(ctx, owner, repo, p)
		if err != nil {
			return playbooks.Owner{}, false, err
		}
		if !found {
			continue
		}
		owners := CodeOwners(content, file)
		if len(owners) == 0 {
			return playbooks.Owner{}, false, nil
		}
		o := playbooks.Owner{}
		first := owners[0]
		switch {
		case strings.Contains(first, "@") && !strings.HasPrefix(first, "@"):
			o.Email = first
		case strings.Contains(first, "/"):
			o.Team, o.GitHub = first, first
		default:
			o.GitHub = first
		}
		o = r.fill(o, "codeowners", owners...)
		if o.Name == "" && o.Team == "" && o.Email == "" {
			o.Name = strings.TrimPrefix(first, "@")
		}
		return o, true, nil
	}
	return playbooks.Owner{}, false, nil
}

// CodeOwners returns the owners CODEOWNERS content assigns to file: the
// owners of the last matching pattern (GitHub's precedence), or none.
// Patterns follow gitignore rules as GitHub applies them: a leading "/"
// anchors at the root, a pattern without "/" matches at any depth, a trailing
// "/" matches a directory's contents, "*" stays in a segment and "**" spans.
func CodeOwners(content, file string) []string {
	file = strings.TrimPrefix(file, "/")
	var owners []string
	for _, line := range strings.Split(content, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if codeownersMatch(f[0], file) {
			owners = f[1:] // may be empty: "no owner" for this path
		}
	}
	return owners
}

func codeownersMatch(p, file string) bool {
	anchored := strings.HasPrefix(p, "/")
	p = strings.TrimPrefix(p, "/")
	if strings.HasSuffix(p, "/") {
		p += "**"
	}
	if !anchored && !strings.Contains(strings.TrimSuffix(p, "/**"), "/") {
		p = "**/" + p
	}
	if Glob(p, file) {
		return true
	}
	// A pattern naming a directory (no trailing slash) owns its contents.
	return Glob(p+"/**", file)
}
