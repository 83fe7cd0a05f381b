package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/store"
)

func newImportCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import ROOTFS.tar|- [NAME[:TAG]]",
		Short: "Create an image from a root filesystem tar (\"-\" reads stdin); prints its ID",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			img, err := s.Import(cmd.Context(), r, name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
}
