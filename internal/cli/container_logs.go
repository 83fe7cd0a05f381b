package cli

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func newLogsCmd(g *Globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs [-f] CONTAINER",
		Short: "Print a detached container's output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			return frontEndError(cmd, newEngine(g).Logs(ctx, args[0], follow, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the container exits")
	return cmd
}
