package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newWaitCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "Wait for front-end containers to exit and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := newEngine(g)
			for _, q := range args {
				code, err := e.Wait(context.Background(), q)
				if err != nil {
					return frontEndError(cmd, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	return cmd
}
