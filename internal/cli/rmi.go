package cli

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

// ImageInUse reports whether a front-end container uses the image with
// ID imageID: any container recorded under <storage>/containers/<id>/
// (engine.Record.ImageID), running or stopped, since its overlay's lowers
// are the image's layers. rmi never deletes such an image, not even with
// -f. It is a variable so that the engine can provide a better answer
// later (a container being created has no record yet).
var ImageInUse = func(storage, imageID string) (bool, error) {
	recs, err := (&engine.Engine{Storage: storage}).List()
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.ImageID == imageID {
			return true, nil
		}
	}
	return false, nil
}

func newRmiCmd(g *Globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [-f] IMAGE...",
		Short: "Untag images, and delete those left without a name",
		Long: "Remove a name of an image; an image left without names (or named by ID)\n" +
			"is deleted with every layer no other image uses. An ID naming an image with\n" +
			"several tags needs -f. An image used by a container is never deleted.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			var opts store.RemoveOptions
			if hook := ImageInUse; hook != nil {
				opts.InUse = func(id string) (bool, error) { return hook(g.Storage, id) }
			}
			out := cmd.OutOrStdout()
			// Like docker: go on with the other images, fail at the end.
			var errs []error
			for _, q := range args {
				res, err := removeImage(s, q, force, opts)
				if res != nil {
					for _, n := range res.Untagged {
						fmt.Fprintf(out, "Untagged: %s\n", familiar(n))
					}
					for _, id := range res.Deleted {
						fmt.Fprintf(out, "Deleted: %s\n", id)
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete an image named by ID even if it has several tags")
	return cmd
}

// removeImage is one argument of rmi. Docker refuses to delete, by ID, an
// image that several names point at unless forced; the store deletes
// whatever it is given by ID, so that check is made here.
func removeImage(s *store.Store, q string, force bool, opts store.RemoveOptions) (*store.RemoveResult, error) {
	img, err := s.Get(q)
	if err != nil {
		return nil, noSuchImage(err, q)
	}
	byName := false
	if canon, err := ref.Normalize(q); err == nil {
		byName = slices.Contains(img.Names, canon) || slices.Contains(img.Digests, canon)
	}
	if !byName && len(img.Names) > 1 && !force {
		return nil, fmt.Errorf("unable to delete %s (must be forced with -f): image is referenced by %d names", shortID(img.ID), len(img.Names))
	}
	res, err := s.Remove(q, opts)
	if errors.Is(err, store.ErrInUse) {
		return res, fmt.Errorf("unable to delete %s (%s): image is used by a container; remove the container first", q, shortID(img.ID))
	}
	return res, noSuchImage(err, q)
}
