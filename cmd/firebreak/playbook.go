package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/playbooks"
)

func playbookCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "playbook", Short: "Work with playbooks"}
	cmd.AddCommand(&cobra.Command{
		Use:   "lint FILE...",
		Short: "Check playbooks; every error is listed with file:line:col and the field path",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := app.Catalog(app.LintActions())
			var all playbooks.ErrorList
			count := 0
			for _, f := range args {
				pbs, errs := playbooks.ParseFile(f, cat)
				count += len(pbs)
				all = append(all, errs...)
			}
			if len(all) > 0 {
				for _, e := range all {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s)\n", len(all))
				return exitError{code: 1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d playbook(s) ok\n", count)
			return nil
		},
	})
	cmd.AddCommand(playbookOncallCmds()...) // test, explain, schema (playbook_oncall.go)
	return cmd
}
