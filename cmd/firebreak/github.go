package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func githubCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "github", Short: "GitHub secret scanning: backfill alerts"}
	cmd.AddCommand(backfillCmd())
	return cmd
}

func backfillCmd() *cobra.Command {
	var (
		cfgPath, server, tokenFile, since string
		orgs, repos, enterprises          []string
	)
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "List open secret-scanning alerts and respond to those Firebreak has not seen open",
		Long: `Ask a running 'firebreak serve' to list the open secret-scanning alerts of
organizations, repositories or enterprises (through its GitHub token or App)
and publish an exposure for every alert it has not seen before, and again
(as "reopened") for an alert it saw resolved that is open again. It resumes
an interrupted backfill where it stopped, waits out GitHub's rate limits, and
otherwise never makes a second exposure of an alert. Without
--org/--repo/--enterprise it backfills github.poll's scopes.

  firebreak github backfill --org acme --since 2026-11-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, nil)
			if err != nil {
				return err
			}
			if _, err := config.PollSince(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if server == "" {
				server = "http://" + cfg.HTTP.Listen
			}
			tok, err := adminToken(cmd, cfg, tokenFile)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(app.BackfillRequest{Orgs: orgs, Repos: repos, Enterprises: enterprises, Since: since})
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(server, "/")+"/v1/github/backfill", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok.Reveal())
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("is 'firebreak serve' running at %s? %w", server, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var out struct {
				Stats ghingest.Stats `json:"stats"`
				Error string         `json:"error"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return fmt.Errorf("serve answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
			}
			st := out.Stats
			fmt.Fprintf(cmd.OutOrStdout(), "backfill: %d scope(s), %d page(s), %d alert(s) listed: published %d, already seen %d, older than --since %d",
				st.Scopes, st.Pages, st.Listed, st.Published, st.Skipped, st.Older)
			if st.Reopened > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", reopened %d (of those published)", st.Reopened)
			}
			if st.Resumed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", resumed %d", st.Resumed)
			}
			if st.Waits > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", waited %s for rate limits", st.Waited.Round(time.Second))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			if resp.StatusCode != http.StatusOK {
				if out.Error == "" {
					out.Error = http.StatusText(resp.StatusCode)
				}
				return fmt.Errorf("backfill: %s", out.Error)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "configuration file of the running serve (for its address and admin token)")
	f.StringSliceVar(&orgs, "org", nil, "organization to backfill (repeatable)")
	f.StringSliceVar(&repos, "repo", nil, "repository owner/name to backfill (repeatable)")
	f.StringSliceVar(&enterprises, "enterprise", nil, "enterprise slug to backfill (repeatable)")
	f.StringVar(&since, "since", "", "skip alerts created before this date (2026-11-01) or RFC 3339 time")
	f.StringVar(&server, "server", "", "base URL of the running serve (default http://<http.listen>)")
	f.StringVar(&tokenFile, "token-file", "", "admin token file (default: http.admin_token, or data_dir/admin-token)")
	return cmd
}

// adminToken finds the control API token: --token-file, http.admin_token, or
// the file serve generated in its data directory.
func adminToken(cmd *cobra.Command, cfg *config.Config, tokenFile string) (secret.Value, error) {
	ref := secret.Ref("file:" + filepath.Join(cfg.DataDir, "admin-token"))
	switch {
	case tokenFile != "":
		ref = secret.Ref("file:" + tokenFile)
	case !cfg.HTTP.AdminToken.IsZero():
		ref = cfg.HTTP.AdminToken
	}
	src, err := secret.Resolvers{Getenv: os.Getenv}.Source(ref)
	if err != nil {
		return secret.Value{}, fmt.Errorf("admin token: %w", err)
	}
	v, err := src.Secret(cmd.Context())
	if err != nil {
		return secret.Value{}, fmt.Errorf("admin token (%s): %w", ref, err)
	}
	return v, nil
}
