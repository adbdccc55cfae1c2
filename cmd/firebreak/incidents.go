package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func incidentsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "incidents", Short: "List incidents, show one's timeline, approve or deny a held step (talks to a running serve)"}
	cf.add(cmd)

	var f app.IncidentFilter
	var since, output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"state": f.State, "provider": f.Provider, "source": f.Source, "environment": f.Environment, "since": since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if f.Limit > 0 {
				q.Set("limit", fmt.Sprint(f.Limit))
			}
			var out struct {
				Incidents []*incident.Incident `json:"incidents"`
			}
			if err := c.do(cmd.Context(), "GET", "/v1/incidents?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd.OutOrStdout(), out.Incidents)
			}
			printTable(cmd.OutOrStdout(), out.Incidents, time.Now())
			return nil
		},
	}
	list.Flags().StringVar(&f.State, "state", "", "only incidents in this state (contained, failed, awaiting_approval, …)")
	list.Flags().StringVar(&f.Provider, "provider", "", "only this provider")
	list.Flags().StringVar(&f.Source, "source", "", "only incidents seen from this source")
	list.Flags().StringVar(&f.Environment, "environment", "", "only incidents seen in this environment")
	list.Flags().StringVar(&since, "since", "", "only incidents opened since (24h, 7d, or an RFC 3339 time)")
	list.Flags().IntVar(&f.Limit, "limit", 0, "at most this many")
	list.Flags().StringVarP(&output, "output", "o", "table", "table or json")

	var showOut string
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident: where the key leaked, and its timeline step by step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(showOut); err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			var v app.IncidentView
			if err := c.do(cmd.Context(), "GET", "/v1/incidents/"+url.PathEscape(args[0]), nil, &v); err != nil {
				return err
			}
			if showOut == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			PrintIncident(cmd.OutOrStdout(), v.Incident)
			return nil
		},
	}
	show.Flags().StringVarP(&showOut, "output", "o", "text", "text or json")

	cmd.AddCommand(list, show, decideCmd(&cf, "approve"), decideCmd(&cf, "deny"))
	return cmd
}

func decideCmd(cf *clientFlags, verb string) *cobra.Command {
	var comment, approval string
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: map[string]string{"approve": "Approve", "deny": "Deny"}[verb] + " the step an incident waits for (as the token's holder; needs the approve scope)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var ans app.DecisionAnswer
			body := map[string]string{"comment": comment, "approval": approval}
			if err := c.do(cmd.Context(), "POST", "/v1/incidents/"+url.PathEscape(args[0])+"/"+verb, body, &ans); err != nil {
				return err
			}
			d := ans.Decision
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s of incident %s (approval %s) by %s via %s at %s; the incident resumes now\n",
				d.Outcome, ans.Step, ans.Incident, ans.Approval, d.By, d.Via, d.At.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (recorded in the audit trail)")
	cmd.Flags().StringVar(&approval, "approval", "", "the approval id (default: the one the incident waits for)")
	return cmd
}

func printTable(w io.Writer, list []*incident.Incident, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tSTATE\tPROVIDER\tKEY\tWHERE\tOPENED\tTTR\tSTEPS")
	for _, in := range list {
		where := strings.Join(in.Where(), "; ")
		if len(where) > 48 {
			where = where[:47] + "…"
		}
		ttr := "-"
		if d, ok := in.TimeToRevoke(); ok {
			ttr = app.FormatDuration(d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.State, in.Provider, in.Redacted, where, app.Ago(now, in.CreatedAt), ttr, app.StepSummary(in))
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(w, "(no incidents)")
	}
}

// PrintIncident prints an incident the way on-call reads it: what leaked,
// where, and the timeline with each step's offset, outcome and duration.
func PrintIncident(w io.Writer, in *incident.Incident) {
	fmt.Fprintf(w, "incident %s  %s key %s  %s  (severity %s)\n", in.ID, in.Provider, in.Redacted, strings.ToUpper(string(in.State)), in.Severity)
	for _, where := range in.Where() {
		fmt.Fprintf(w, "  seen at     %s\n", where)
	}
	if len(in.Playbooks) > 0 {
		fmt.Fprintf(w, "  playbooks   %s\n", strings.Join(in.Playbooks, ", "))
	}
	if b := in.Blast; b != nil && b.Searched {
		fmt.Fprintf(w, "  blast       %d other place(s) hold the key (%s)", len(b.Hits), strings.Join(b.Environments, ", "))
		if b.ReusedAcrossEnvs {
			fmt.Fprint(w, ", reused across environments")
		}
		fmt.Fprintln(w)
	}
	if in.Correlation != "" {
		fmt.Fprintf(w, "  correlation %s\n", in.Correlation)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range in.Timeline() {
		meta := ""
		if e.Uses != "" {
			meta = e.Uses
			if e.Duration > 0 {
				meta += ", " + app.FormatDuration(e.Duration)
			}
			meta = " (" + meta + ")"
		}
		fmt.Fprintf(tw, "  +%s\t%s\t%s%s\n", app.FormatDuration(e.Offset), e.Title, e.Detail, meta)
	}
	tw.Flush()
	if p := in.PendingApproval(); p != nil {
		fmt.Fprintf(w, "  waiting for approval %s of %s until %s (on timeout: %s): firebreak incidents approve|deny %s\n",
			p.ID, p.Step, p.Deadline.UTC().Format(time.RFC3339), p.OnTimeout, in.ID)
	}
	if d, ok := in.TimeToRevoke(); ok {
		fmt.Fprintf(w, "  time from receipt to revocation: %s\n", app.FormatDuration(d))
	}
	if in.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", in.Error)
	}
}
