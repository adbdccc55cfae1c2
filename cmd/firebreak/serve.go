package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
)

func serveCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run ingest, the bus, responders and the control API in one process",
		Long: `Run Firebreak. Without --config it runs on the embedded default: embedded
JetStream with a file store under ./firebreak-data, HTTP on 127.0.0.1:8080, the
built-in playbooks, and providers without credentials in dry-run.
FIREBREAK_* environment variables override any scalar setting. Every
configured env: and file: secret reference is read once at start (and again
at each use); one that cannot be read stops the start, naming its field.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, nil)
			if err != nil {
				return err
			}
			// A configured secret that cannot be read is a misconfiguration:
			// refuse to start rather than answer every request with an error.
			if err := cfg.CheckSecrets(cmd.Context(), nil); err != nil {
				return err
			}
			log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
			gogc := app.ApplyGCDefault()
			a, err := app.New(cmd.Context(), cfg, log, app.Options{})
			if err != nil {
				return err
			}
			defer a.Close()
			fields := map[string]any{"version": versionString(), "http": cfg.HTTP.Listen, "data_dir": cfg.DataDir,
				"fsync": cfg.NATS.Embedded.FSync, "playbooks": len(a.Playbooks.Playbooks), "gogc": gogc}
			if cfg.NATS.URL != "" {
				fields["nats"] = "external"
				delete(fields, "fsync")
			} else {
				fields["nats"] = "embedded"
			}
			if a.AdminTokenFile != "" {
				fields["admin_token_file"] = a.AdminTokenFile
			}
			if a.WebhookSecretFile != "" {
				fields["github_webhook_secret_file"] = a.WebhookSecretFile
			}
			if a.IngestTokenFile != "" {
				fields["ingest_token_file"] = a.IngestTokenFile
			}
			if a.Syslog != nil {
				fields["syslog"] = a.Syslog.Addr().String()
			}
			for _, n := range a.Providers.Names() {
				if _, dry, _ := a.Providers.Get(n); dry != "" {
					fields["dry_run_"+n] = dry
				}
			}
			log.WithFields(fields).Info("firebreak starting")
			return a.Run(cmd.Context(), nil)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (YAML); validated in full at start")
	return cmd
}

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration helpers"}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a documented configuration file",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), config.Example+config.ExampleOncall)
		},
	}, &cobra.Command{
		Use:   "validate FILE",
		Short: "Validate a configuration file (and FIREBREAK_* overrides) and exit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0], nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0]+": ok")
			return nil
		},
	})
	return cmd
}
