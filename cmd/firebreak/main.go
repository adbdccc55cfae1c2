// Command firebreak turns a leaked API key into a response in seconds: it
// ingests leak alerts, puts exposures on NATS JetStream, and runs playbooks
// that verify, revoke and rotate the key and notify its owner.
//
//	firebreak serve [--config FILE]   everything in one process
//	firebreak demo                    a self-contained run against provider emulators
//	firebreak playbook lint FILE...   check playbooks (file:line:col errors)
//	firebreak github backfill --org X respond to open alerts Firebreak has not seen
//	firebreak scan [FILE|DIR...]      find leaked keys in files or stdin (JSON lines)
//	firebreak version
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := rootCmd()
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "firebreak:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "firebreak",
		Short:         "Firebreak turns a leaked API key into a revoked key and a notified owner, in seconds",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), demoCmd(), playbookCmd(), versionCmd(), configCmd(), vaultCmd())
	root.AddCommand(githubCmd())
	root.AddCommand(providersCmd())
	root.AddCommand(scanCmd())
	root.AddCommand(incidentsCmd(), replayCmd(), auditCmd(), tokensCmd()) // on-call (issue 7)
	return root
}
