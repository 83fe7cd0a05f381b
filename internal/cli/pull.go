package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

func newPullCmd(g *Globals) *cobra.Command {
	var (
		insecure []string
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "pull [--insecure-registry HOST]... [--quiet] IMAGE",
		Short: "Download an image from a registry into the image store",
		Long: "Download an image (by tag or digest) into the image store. Every blob is\n" +
			"verified against its digest. Plain http is used only for loopback\n" +
			"registries and those named with --insecure-registry.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ref.Parse(args[0])
			if err != nil {
				return err
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			lp := newLayerProgress(out, quiet)
			img, err := s.Pull(cmd.Context(), args[0], store.PullOptions{
				InsecureRegistries: insecure,
				Progress:           lp.fn(),
			})
			lp.finish()
			if err != nil {
				return pullError(err, r.Registry, insecure)
			}
			if quiet {
				fmt.Fprintln(out, r.String())
				return nil
			}
			fmt.Fprintf(out, "Pulled %s (%s)\n", r.String(), img.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "allow plain http to this registry (HOST or HOST:PORT; repeatable)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image reference")
	return cmd
}

// pullError adds what to do when a registry answered https with plain
// http: Tirith upgrades every non-loopback registry to https unless it is
// named with --insecure-registry.
func pullError(err error, registry string, insecure []string) error {
	if ref.AllowsPlainHTTP(registry, insecure) {
		return err
	}
	if errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(err.Error(), http.ErrSchemeMismatch.Error()) {
		return fmt.Errorf("%w\nregistry %s speaks plain http, which Tirith uses only for loopback registries; "+
			"pass --insecure-registry %s if the network to it is trusted", err, registry, registry)
	}
	return err
}
