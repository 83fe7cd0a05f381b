package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newStopCmd(g *Globals) *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   "stop [-t SECONDS] CONTAINER...",
		Short: "Stop front-end containers: SIGTERM, then SIGKILL after the timeout",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := newEngine(g)
			failed := false
			for _, q := range args {
				if err := e.Stop(q, time.Duration(seconds)*time.Second); err != nil {
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
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL")
	return cmd
}
