package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/store"
)

func newLoadCmd(g *Globals) *cobra.Command {
	var (
		input string
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "load -i FILE",
		Short: "Load images from a docker-archive tar, an OCI archive tar or an OCI layout directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" {
				return fmt.Errorf("load: -i FILE is required (a docker-archive or OCI archive tar, or an OCI layout directory)")
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// Bars only on a terminal; docker load prints no per-layer
			// lines otherwise.
			lp := newLayerProgress(out, quiet || !isTerminal(out))
			imgs, err := s.Load(cmd.Context(), input, store.LoadOptions{Progress: lp.fn()})
			lp.finish()
			if err != nil {
				return err
			}
			for _, img := range imgs {
				if len(img.Names) == 0 {
					fmt.Fprintf(out, "Loaded image ID: %s\n", img.ID)
				}
				for _, n := range img.Names {
					fmt.Fprintf(out, "Loaded image: %s\n", familiar(n))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "archive or OCI layout directory to load")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "show no progress")
	return cmd
}
