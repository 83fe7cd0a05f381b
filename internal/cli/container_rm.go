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
			return eachContainer(cmd, args, func(q string) error { return e.Remove(q, force) })
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}

// eachContainer applies f to every named container like docker does for
// rm and stop: the name on success, an error line otherwise, carrying on,
// and exit 1 at the end if any failed.
func eachContainer(cmd *cobra.Command, names []string, f func(string) error) error {
	failed := false
	for _, q := range names {
		if err := f(q); err != nil {
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
}
