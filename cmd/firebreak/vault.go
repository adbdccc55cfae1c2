package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
)

// vaultCmd holds the Vault helpers: `firebreak vault policy --config FILE`
// prints the least-privilege policy for that configuration.
func vaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vault", Short: "HashiCorp Vault helpers"}
	var cfgFile string
	policy := &cobra.Command{
		Use:   "policy",
		Short: "Print the least-privilege Vault policy this configuration needs (attach it with Vault's default policy)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgFile, nil)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), app.VaultPolicy(cfg))
			return nil
		},
	}
	policy.Flags().StringVar(&cfgFile, "config", "", "configuration file")
	cmd.AddCommand(policy)
	return cmd
}
