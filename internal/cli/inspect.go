package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/image/store"
)

// newInspectCmd is docker inspect: each NAME is a front-end container
// (name, id or unique id prefix) if one matches, else an image; --type
// forces one. Containers print as engine.Inspection (Docker's field
// names plus Security), images as their store records.
func newInspectCmd(g *Globals) *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use:   "inspect [--type container|image] NAME...",
		Short: "Print containers' or images' records as a JSON array (containers: state, config, mounts, walls and relaxations)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch typ {
			case "", "container", "image":
			default:
				return fmt.Errorf("--type %q: want container or image", typ)
			}
			e := newEngine(g)
			var st *store.Store
			openStore := func() (*store.Store, error) {
				if st != nil {
					return st, nil
				}
				var err error
				st, err = store.Open(g.Storage)
				return st, err
			}
			// Like docker: print what was found, fail for the rest.
			out := []any{}
			var errs []error
			for _, q := range args {
				if typ != "image" {
					c, err := e.Inspect(q)
					if err == nil {
						out = append(out, c)
						continue
					}
					if !errors.Is(err, engine.ErrNoContainer) {
						errs = append(errs, err)
						continue
					}
					if typ == "container" {
						errs = append(errs, fmt.Errorf("no such container: %s", q))
						continue
					}
				}
				s, err := openStore()
				if err != nil {
					return err
				}
				img, err := s.Get(q)
				switch {
				case err == nil:
					out = append(out, img)
				case typ == "" && errors.Is(err, store.ErrNotFound):
					errs = append(errs, fmt.Errorf("no such object: %s", q))
				default:
					errs = append(errs, noSuchImage(err, q))
				}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "container or image (default: a container if one matches, else an image)")
	return cmd
}
