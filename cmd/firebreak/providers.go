package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/providers"
)

// providersCmd lists the providers and what each can do, from their specs.
// `firebreak providers --markdown` prints the README's capability table.
func providersCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List the providers and what Firebreak can do with each (verify, revoke, rotate, owner)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			specs := app.ProviderSpecs()
			if markdown {
				fmt.Fprint(cmd.OutOrStdout(), providers.CapabilityTable(specs))
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROVIDER\tVERIFY\tREVOKE\tROTATE\tOWNER\tREVOKING NEEDS")
			mark := func(b bool, no string) string {
				if b {
					return "yes"
				}
				return no
			}
			for _, s := range specs {
				needs := s.RevokeRequires
				if needs == "" {
					needs = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, mark(s.Verify, "no"), mark(s.Revoke, "escalates"), mark(s.Rotate, "-"), mark(s.Owner, "-"), needs)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the README's Markdown capability table")
	return cmd
}
