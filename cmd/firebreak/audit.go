package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
)

func auditCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the tamper-evident audit trail (talks to a running serve)"}
	cf.add(cmd)

	var incidentID, output string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute every audit hash chain (or one incident's) and report any break; exit 1 on a break",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if incidentID != "" {
				q.Set("incident", incidentID)
			}
			var rep app.VerifyReport
			if err := c.do(cmd.Context(), "GET", "/v1/audit/verify?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				if err := printJSON(w, rep); err != nil {
					return err
				}
			} else {
				broken := 0
				for _, ch := range rep.Chains {
					if ch.OK {
						fmt.Fprintf(w, "ok      %-30s %4d records, head %.16s…\n", ch.Chain, ch.Records, ch.Head)
						continue
					}
					broken++
					fmt.Fprintf(w, "BROKEN  %-30s %4d records\n", ch.Chain, ch.Records)
					for _, b := range ch.Breaks {
						fmt.Fprintf(w, "          %s\n", b.Problem)
					}
				}
				fmt.Fprintf(w, "%d chain(s) verified, %d broken\n", len(rep.Chains), broken)
			}
			if !rep.OK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&incidentID, "incident", "", "verify one incident's chain (also against the head the incident recorded)")
	verify.Flags().StringVarP(&output, "output", "o", "text", "text or json")

	var since, until, exportIncident string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write audit records as JSON lines, for a SIEM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"since": since, "until": until, "incident": exportIncident} {
				if v != "" {
					q.Set(k, v)
				}
			}
			resp, err := c.raw(cmd.Context(), "GET", "/v1/audit?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			return err
		},
	}
	export.Flags().StringVar(&since, "since", "", "records since (90m, 24h, 7d, or RFC 3339)")
	export.Flags().StringVar(&until, "until", "", "records until")
	export.Flags().StringVar(&exportIncident, "incident", "", "one incident's records (or \"control\" for control-API requests)")
	cmd.AddCommand(verify, export)
	return cmd
}

func tokensCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "tokens", Short: "Control API tokens with scopes read, replay, approve, admin (needs an admin token)"}
	cf.add(cmd)
	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create --name NAME --scope read[,approve,…]",
		Short: "Create a token; it is printed once and stored only as its SHA-256",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var t app.CreatedToken
			if err := c.do(cmd.Context(), "POST", "/v1/tokens", map[string]any{"name": name, "scopes": scopes}, &t); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s (%s) with scopes %v: store it now, it is not shown again\n", t.ID, t.Name, t.Scopes)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "who holds it (an approver's name, a bot's name); recorded in the audit trail")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "read, replay, approve, admin (repeat or comma-separate)")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("scope")
	list := &cobra.Command{
		Use: "list", Short: "List tokens (never their values)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var out struct {
				Tokens []struct {
					ID, Name, CreatedBy string
					Scopes              []string
					CreatedAt           string `json:"created_at"`
				} `json:"tokens"`
			}
			if err := c.do(cmd.Context(), "GET", "/v1/tokens", nil, &out); err != nil {
				return err
			}
			for _, t := range out.Tokens {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %-20s %-28v created %s\n", t.ID, t.Name, t.Scopes, t.CreatedAt)
			}
			return nil
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "revoked", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
