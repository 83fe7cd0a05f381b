package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDiffCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "List files added (A), changed (C) or deleted (D) in a container's root filesystem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := newEngine(g).Diff(args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			for _, c := range changes {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", c.Kind, c.Path)
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	return cmd
}
