package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRmCmd(g *Globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [-f] CONTAINER...",
		Short: "Remove front-end containers (their rootfs changes, logs and secrets)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := newEngine(g)
			failed := false
			for _, q := range args {
				if err := e.Remove(q, force); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "tirith: %v\n", err)
					failed = true
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), q)
			}
			if failed {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}
