package cli

import (
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
			return eachContainer(cmd, args, func(q string) error { return e.Stop(q, time.Duration(seconds)*time.Second) })
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL")
	return cmd
}
