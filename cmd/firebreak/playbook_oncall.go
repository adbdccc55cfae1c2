package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/responders"
)

// playbookOncallCmds are `playbook test`, `playbook explain` and `playbook
// schema` (issue 7).
func playbookOncallCmds() []*cobra.Command {
	var builtin bool
	test := &cobra.Command{
		Use:   "test DIR",
		Short: "Run DIR's fixtures (fixtures/NAME.exposure.json + NAME.expect.yaml) offline against the emulators; print a diff on mismatch",
		Long: `Run playbook fixtures offline: for each DIR/fixtures/NAME.exposure.json, start a whole
Firebreak on a temporary embedded JetStream with the provider emulators, mint the
exposure's key at its provider's emulator, publish the exposure, and compare the
incident's state, matched playbooks, steps and every emulator request with
NAME.expect.yaml. The playbooks are DIR's *.yaml (and the built-ins with --builtin).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat := app.Catalog(app.LintActions())
			if _, err := playbooks.Load(cat, builtin, args[0]); err != nil {
				return fmt.Errorf("playbooks in %s:\n%w", args[0], err)
			}
			res, err := stack.RunFixtures(cmd.Context(), args[0], stack.FixtureOptions{Builtin: builtin})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			failed := 0
			for _, r := range res {
				switch {
				case r.Err != nil:
					failed++
					fmt.Fprintf(w, "FAIL  %s: %v\n", r.Name, r.Err)
				case !r.OK:
					failed++
					fmt.Fprintf(w, "FAIL  %s (- expected, + got)\n%s\n", r.Name, strings.Join(r.Diff, "\n"))
				default:
					fmt.Fprintf(w, "ok    %s  (%s; %d steps; %d calls)\n", r.Name, r.Got.State, len(r.Got.Steps), len(r.Got.Calls))
				}
			}
			fmt.Fprintf(w, "%d passed, %d failed\n", len(res)-failed, failed)
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	test.Flags().BoolVar(&builtin, "builtin", false, "load the built-in playbooks too (as serve does)")

	var dir string
	var files []string
	var noBuiltin bool
	explain := &cobra.Command{
		Use:   "explain EXPOSURE.json",
		Short: "Say which playbooks match an exposure and why, and what each step would do (offline, nothing is called)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var ev exposure.Event
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				return fmt.Errorf("%s: not a firebreak.exposure.v1 event: %w", args[0], err)
			}
			if ev.Environment == "" {
				ev.Environment = exposure.EnvUnknown
			}
			acts := app.LintActions()
			cat := app.Catalog(acts)
			var set *playbooks.Set
			if len(files) > 0 {
				set = &playbooks.Set{}
				var errs playbooks.ErrorList
				for _, f := range files {
					pbs, e := playbooks.ParseFile(f, cat)
					errs = append(errs, e...)
					set.Playbooks = append(set.Playbooks, pbs...)
				}
				if err := errs.Err(); err != nil {
					return err
				}
			} else if set, err = playbooks.Load(cat, !noBuiltin, dir); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			p := responders.NewPlanner(acts).Plan(ctx, &ev, 0, nil, set)
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "exposure %s  %s %s %s  %s from %s  %s\n", nonEmptyStr(ev.ID, "(no id)"), ev.Secret.Provider, ev.Secret.Type,
				ev.Secret.Redacted, ev.Environment, ev.Source.Kind, ev.Location.Display)
			PrintPlan(w, &p)
			matched := 0
			for _, pb := range p.Playbooks {
				if pb.Matched {
					matched++
				}
			}
			fmt.Fprintf(w, "%d of %d playbook(s) match\n", matched, len(p.Playbooks))
			return nil
		},
	}
	explain.Flags().StringVar(&dir, "dir", "", "a playbooks directory (as playbooks.dir), loaded with the built-ins")
	explain.Flags().StringSliceVar(&files, "playbook", nil, "explain against these playbook files only")
	explain.Flags().BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in playbooks out")

	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of playbooks, for editors (see the README's yaml-language-server line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printJSON(cmd.OutOrStdout(), playbooks.Schema(app.Catalog(app.LintActions())))
		},
	}
	return []*cobra.Command{test, explain, schema}
}

func nonEmptyStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
