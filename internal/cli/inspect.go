package cli

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/store"
)

func newInspectCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect IMAGE...",
		Short: "Print images' records as a JSON array: names, config, layers with their setuid files and unpack warnings",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			// Like docker: print what was found, fail for the rest.
			imgs := []*store.Image{}
			var errs []error
			for _, q := range args {
				img, err := s.Get(q)
				if err != nil {
					errs = append(errs, noSuchImage(err, q))
					continue
				}
				imgs = append(imgs, img)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(imgs); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
}
