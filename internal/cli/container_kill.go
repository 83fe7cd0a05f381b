package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newFrontKillCmd(g *Globals) *cobra.Command {
	var sigName string
	cmd := &cobra.Command{
		Use:   "kill [-s SIGNAL] CONTAINER...",
		Short: "Send a signal (default SIGKILL) to front-end containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := ParseSignal(sigName)
			if err != nil {
				return frontEndError(cmd, fmt.Errorf("--signal: %w", err))
			}
			e := newEngine(g)
			var firstErr error
			for _, q := range args {
				if err := e.Kill(q, sig); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "tirith: %v\n", err)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), q)
			}
			if firstErr != nil {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().StringVarP(&sigName, "signal", "s", "KILL", "signal to send")
	return cmd
}
