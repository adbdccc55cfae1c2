package providers

import (
	"fmt"
	"sort"
	"strings"
)

// CapabilityTable renders specs as the README's Markdown capability table:
// one row per provider, from the providers' own Spec — what Verify, Revoke,
// Create (rotate) and Owner are backed by — so the table cannot drift from
// the code (a test compares the README with this output).
func CapabilityTable(specs []Spec) string {
	specs = append([]Spec(nil), specs...)
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	yes := func(b bool, no string) string {
		if b {
			return "yes"
		}
		return no
	}
	var b strings.Builder
	b.WriteString("| provider | secret types | verify | revoke | rotate | owner | revoking needs | manual action at |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range specs {
		types := make([]string, len(s.SecretTypes))
		for i, t := range s.SecretTypes {
			types[i] = "`" + t + "`"
		}
		needs := s.RevokeRequires
		if needs == "" {
			needs = "—"
		}
		fmt.Fprintf(&b, "| %s (`%s`) | %s | %s | %s | %s | %s | %s | %s |\n", s.DisplayName, s.Name, strings.Join(types, ", "),
			yes(s.Verify, "no"), yes(s.Revoke, "escalates"), yes(s.Rotate, "—"), yes(s.Owner, "—"), needs, s.ConsoleURL)
	}
	return b.String()
}
