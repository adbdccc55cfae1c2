package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func replayCmd() *cobra.Command {
	var cf clientFlags
	var seq, since, until, playbookFile, output string
	var req responders.ReplayRequest
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "replay [INCIDENT_ID]",
		Short: "Run playbooks again on stored exposures: an incident's, a stream sequence (range) or a time range",
		Long: `Read exposures back from FIREBREAK_EXPOSURES and run playbooks on them again.

  firebreak replay inc_93c3… --dry-run                 the plan: matching playbooks and why, each step
                                                       with its parameters and provider calls; no side effect
  firebreak replay --since 24h --provider openai --dry-run --playbook changed.yaml
  firebreak replay inc_93c3…                           for real: a failed incident resumes at its failed step;
                                                       steps that succeeded (a revocation) never run twice
  firebreak replay --seq 120-140 --source logs

Talks to a running serve (POST /v1/replay); needs a token with the replay scope.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, got %q", output)
			}
			if len(args) == 1 {
				req.Incident = args[0]
			}
			now := time.Now()
			if seq != "" {
				a, b, isRange := strings.Cut(seq, "-")
				n, err := strconv.ParseUint(a, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("--seq: %q is not a stream sequence (N or N-M)", seq)
				}
				req.Seq, req.SeqEnd = n, n
				if isRange {
					m, err := strconv.ParseUint(b, 10, 64)
					if err != nil || m < n {
						return fmt.Errorf("--seq: %q is not a range N-M with M ≥ N", seq)
					}
					req.SeqEnd = m
				}
			}
			for name, pair := range map[string]struct {
				s   string
				dst *time.Time
			}{"--since": {since, &req.Since}, "--until": {until, &req.Until}} {
				if pair.s != "" {
					t, err := app.ParseSince(pair.s, now)
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					*pair.dst = t
				}
			}
			if playbookFile != "" {
				b, err := os.ReadFile(playbookFile)
				if err != nil {
					return err
				}
				req.Playbook, req.PlaybookName = string(b), playbookFile
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			var res responders.ReplayResult
			if err := c.do(cmd.Context(), "POST", "/v1/replay", req, &res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, res)
			}
			printReplay(w, &res)
			if !req.DryRun && wait > 0 {
				return waitReplay(cmd.Context(), c, w, &res, wait)
			}
			return nil
		},
	}
	cf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&seq, "seq", "", "stream sequence N, or range N-M, in FIREBREAK_EXPOSURES")
	f.StringVar(&since, "since", "", "exposures received since (90m, 24h, 7d, or RFC 3339)")
	f.StringVar(&until, "until", "", "exposures received until (same forms; default now)")
	f.StringVar(&req.Provider, "provider", "", "only exposures of this provider")
	f.StringVar(&req.Source, "source", "", "only exposures from this source")
	f.StringVar(&req.Environment, "environment", "", "only exposures in this environment")
	f.StringVar(&playbookFile, "playbook", "", "plan with the playbooks of this file instead of the loaded ones (with --dry-run)")
	f.BoolVar(&req.DryRun, "dry-run", false, "print the plan; call, write and publish nothing")
	f.IntVar(&req.Limit, "limit", 100, "at most this many exposures")
	f.DurationVar(&wait, "wait", 30*time.Second, "after a real replay, wait this long for the incidents to settle (0: do not wait)")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printReplay(w io.Writer, res *responders.ReplayResult) {
	if res.DryRun {
		fmt.Fprintf(w, "dry-run: %d exposure(s); nothing is called, written or published\n", res.Selected)
	} else {
		fmt.Fprintf(w, "replay %s: %d exposure(s)\n", res.ReplayID, res.Selected)
	}
	if res.Truncated {
		fmt.Fprintln(w, "(more exposures matched: raise --limit)")
	}
	for _, it := range res.Items {
		x := it.Exposure
		fmt.Fprintf(w, "\nexposure %s (stream seq %d)  %s %s %s  %s from %s  %s\n", x.ID, x.StreamSeq, x.Provider, x.Type, x.Redacted, x.Environment, x.Source, x.Where)
		if it.Incident != "" {
			fmt.Fprintf(w, "  incident %s (%s)\n", it.Incident, it.IncidentState)
		}
		if it.Plan == nil {
			fmt.Fprintf(w, "  %s: %s\n", it.Action, it.Reason)
			continue
		}
		PrintPlan(w, it.Plan)
	}
}

// PrintPlan prints a plan: each playbook, matched or not and why, and each
// step with what it would do, its rendered parameters and provider calls.
func PrintPlan(w io.Writer, p *responders.Plan) {
	for _, pb := range p.Playbooks {
		if !pb.Matched {
			fmt.Fprintf(w, "  - %s: does not match: %s\n", pb.Name, pb.Reason)
			continue
		}
		fmt.Fprintf(w, "  + %s: matches: %s\n", pb.Name, pb.Reason)
		for _, st := range pb.Steps {
			verb := map[string]string{responders.WillRun: "would run", responders.WillSkip: "skipped", responders.WillDone: "done",
				responders.WillWait: "waits for approval", responders.WillFail: "cannot run"}[st.Will]
			se := ""
			if st.SideEffect && st.Will == responders.WillRun {
				se = " [side effect]"
			}
			fmt.Fprintf(w, "      %-14s %-20s %s%s", st.ID, st.Uses, verb, se)
			if st.Why != "" {
				fmt.Fprintf(w, ": %s", st.Why)
			}
			fmt.Fprintln(w)
			if len(st.With) > 0 && st.Will != responders.WillDone {
				keys := make([]string, 0, len(st.With))
				for k := range st.With {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					b, _ := json.Marshal(st.With[k])
					fmt.Fprintf(w, "          with.%s = %s\n", k, b)
				}
			}
			for _, c := range st.Calls {
				line := strings.TrimSpace(c.Method + " " + c.URL)
				if c.Body != "" {
					line += "  body: " + c.Body
				}
				if c.Note != "" {
					if line != "" {
						line += "  — "
					}
					line += c.Note
				}
				fmt.Fprintf(w, "          → %s\n", line)
			}
		}
	}
}

// waitReplay polls the replayed incidents until this replay settled them.
func waitReplay(ctx context.Context, c *apiClient, w io.Writer, res *responders.ReplayResult, wait time.Duration) error {
	ids := map[string]bool{}
	for _, it := range res.Items {
		if it.Action == responders.ReplayReplayed && it.Incident != "" {
			ids[it.Incident] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	fmt.Fprintln(w)
	for id := range ids {
		for {
			var v app.IncidentView
			if err := c.do(ctx, "GET", "/v1/incidents/"+url.PathEscape(id), nil, &v); err != nil {
				return err
			}
			in := v.Incident
			settled := in.LastReplay == res.ReplayID && in.State != incident.Running && in.State != incident.Retrying && in.State != incident.Open
			if settled || time.Now().After(deadline) {
				state := string(in.State)
				if !settled {
					state += " (still settling: firebreak incidents show " + id + ")"
				}
				fmt.Fprintf(w, "incident %s: %s\n", id, state)
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return nil
}
