package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// `tirith system prune`: the front end's garbage collection.

func newSystemCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage the front end's store as a whole",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSystemPruneCmd(g))
	return cmd
}

func newSystemPruneCmd(g *Globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [-f]",
		Short: "Remove stopped containers, the debris of crashed commands and unused store content",
		Long: "Remove every front-end container that is not running (with its mounts and directory), what\n" +
			"crashed commands left behind (container dirs without a record, stray mounts, runtime state\n" +
			"dirs without state) and the image store's temp files and unreferenced content. Running\n" +
			"containers and images are kept. It does not ask for confirmation (-f is accepted for Docker's sake).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := newEngine(g).Prune()
			w := cmd.OutOrStdout()
			if rep != nil {
				if len(rep.Containers) > 0 {
					fmt.Fprintln(w, "Deleted Containers:")
					for _, id := range rep.Containers {
						fmt.Fprintln(w, id)
					}
					fmt.Fprintln(w)
				}
				if len(rep.Debris) > 0 {
					fmt.Fprintln(w, "Deleted debris:")
					for _, d := range rep.Debris {
						fmt.Fprintln(w, d)
					}
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(rep.SpaceReclaimed))
			}
			return frontEndError(cmd, err)
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (there is no prompt)")
	return cmd
}
