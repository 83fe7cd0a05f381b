package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/runtime"
)

func newDeleteCmd(g *Globals) *cobra.Command {
	var o runtime.DeleteOptions
	cmd := &cobra.Command{
		Use:   "delete [--force] CONTAINER_ID",
		Short: "Delete a stopped container (with --force, kill it first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.Root, args[0])
			if errors.Is(err, runtime.ErrNotExist) && o.Force {
				// Like runc: --force also clears a state dir that a
				// killed create left without state, and is quiet
				// about a container that is already gone.
				return runtime.RemoveDebris(g.Root, args[0])
			}
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Delete(o)
		},
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "kill the container if it is running")
	return cmd
}
