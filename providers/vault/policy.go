package vault

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// PolicyConfig describes what a deployment asks of Vault; Policy turns it
// into the least-privilege policy Firebreak's token needs.
type PolicyConfig struct {
	// RotateTargets are the KV v2 folders rotation may write (playbooks' mount
	// and path must fall under one).
	RotateTargets []Scope
	// Intents is where rotation intent records live.
	Intents Scope
	// Find are the blast-radius search scopes.
	Find []Scope
	// Credentials are API paths (globs allowed) of Firebreak's own "vault:"
	// references, e.g. "secret/data/firebreak/creds/*".
	Credentials []string
	// TransitMount and TransitKey enable sealing through Transit.
	TransitMount, TransitKey string
	// RevokeLeases allows vault.revoke_lease of single leases;
	// RevokePrefixes the prefixes it may revoke whole (needs sudo).
	RevokeLeases   bool
	RevokePrefixes []string
}

// Rule is one path stanza of a policy.
type Rule struct {
	Path         string
	Capabilities []string
	Why          string
}

func folderGlob(mount, kind, prefix string) string {
	p := strings.Trim(mount, "/") + "/" + kind + "/"
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		p += prefix + "/"
	}
	return p + "*"
}

// PolicyRules returns the policy's stanzas. Vault applies only the most
// specific stanza that matches a path, so a stanza under another (a rotation
// target inside a search scope) carries the capabilities of both, and a stanza
// that adds nothing to the one above it is dropped: every capability that
// remains is needed by some operation.
func PolicyRules(pc PolicyConfig) []Rule {
	var rules []Rule
	add := func(path, why string, caps ...string) {
		for i := range rules {
			if rules[i].Path == path {
				for _, c := range caps {
					if !slices.Contains(rules[i].Capabilities, c) {
						rules[i].Capabilities = append(rules[i].Capabilities, c)
					}
				}
				if !strings.Contains(rules[i].Why, why) {
					rules[i].Why += "; " + why
				}
				return
			}
		}
		rules = append(rules, Rule{Path: path, Capabilities: append([]string(nil), caps...), Why: why})
	}
	for _, s := range pc.RotateTargets {
		add(folderGlob(s.Mount, "data", s.Prefix), "rotation: read the secret and write its new version (check-and-set)", "read", "update")
		add(folderGlob(s.Mount, "metadata", s.Prefix), "rotation: set custom metadata (rotated_by, incident, previous_fingerprint)", "update")
	}
	if pc.Intents.Mount != "" {
		add(folderGlob(pc.Intents.Mount, "data", pc.Intents.Prefix), "rotation intent records: create (check-and-set 0), read, update", "create", "read", "update")
		add(folderGlob(pc.Intents.Mount, "metadata", pc.Intents.Prefix), "rotation intent records: clear (every version)", "delete")
	}
	for _, s := range pc.Find {
		add(folderGlob(s.Mount, "data", s.Prefix), "blast radius: read secrets to fingerprint them", "read")
		add(folderGlob(s.Mount, "metadata", s.Prefix), "blast radius: list folders", "list")
	}
	for _, p := range pc.Credentials {
		add(strings.Trim(p, "/"), "Firebreak's own credentials (vault: references)", "read")
	}
	if pc.TransitKey != "" {
		m := strings.Trim(pc.TransitMount, "/")
		if m == "" {
			m = "transit"
		}
		add(m+"/encrypt/"+pc.TransitKey, "sealing exposures through Transit", "update")
		add(m+"/decrypt/"+pc.TransitKey, "opening sealed exposures through Transit", "update")
	}
	if pc.RevokeLeases || len(pc.RevokePrefixes) > 0 {
		add("sys/leases/revoke", "vault.revoke_lease of one lease", "update")
	}
	for _, p := range pc.RevokePrefixes {
		add("sys/leases/revoke-prefix/"+strings.Trim(p, "/")+"/*", "vault.revoke_lease of every lease under a prefix", "update", "sudo")
	}
	// A stanza inside another inherits its capabilities (Vault does not merge
	// them); a stanza equal to the one covering it is redundant.
	covers := func(outer, inner string) bool {
		return outer != inner && strings.HasSuffix(outer, "*") && strings.HasPrefix(strings.TrimSuffix(inner, "*"), strings.TrimSuffix(outer, "*"))
	}
	for i := range rules {
		for j := range rules {
			if covers(rules[j].Path, rules[i].Path) {
				for _, c := range rules[j].Capabilities {
					if !slices.Contains(rules[i].Capabilities, c) {
						rules[i].Capabilities = append(rules[i].Capabilities, c)
					}
				}
			}
		}
	}
	var out []Rule
	for i, r := range rules {
		redundant := false
		for j, o := range rules {
			if i != j && covers(o.Path, r.Path) && len(o.Capabilities) == len(r.Capabilities) {
				redundant = true
			}
		}
		if !redundant {
			order := []string{"create", "read", "update", "delete", "list", "sudo"}
			sort.Slice(r.Capabilities, func(a, b int) bool {
				return slices.Index(order, r.Capabilities[a]) < slices.Index(order, r.Capabilities[b])
			})
			out = append(out, r)
		}
	}
	return out
}

// Policy renders the least-privilege policy as HCL. Attach it together with
// Vault's built-in "default" policy, which lets a token renew and look up
// itself and ask sys/capabilities-self (rotation checks its capabilities
// before it creates anything).
func Policy(pc PolicyConfig) string {
	return RenderPolicy(PolicyRules(pc))
}

// RenderPolicy renders rules as HCL.
func RenderPolicy(rules []Rule) string {
	var b strings.Builder
	b.WriteString("# Firebreak's least-privilege Vault policy (with Vault's \"default\" policy).\n")
	for _, r := range rules {
		caps := make([]string, len(r.Capabilities))
		for i, c := range r.Capabilities {
			caps[i] = fmt.Sprintf("%q", c)
		}
		fmt.Fprintf(&b, "\n# %s\npath %q {\n  capabilities = [%s]\n}\n", r.Why, r.Path, strings.Join(caps, ", "))
	}
	return b.String()
}
