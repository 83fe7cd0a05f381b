package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/image/trust"
)

func newPullCmd(g *Globals) *cobra.Command {
	var (
		insecure []string
		quiet    bool
		sigPol   string
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
			pol, err := loadPolicy(sigPol)
			if err != nil {
				return err
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			img, err := pullImage(cmd.Context(), s, args[0], insecure, pol, out, quiet)
			if err != nil {
				return err
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
	signaturePolicyFlag(cmd, &sigPol)
	return cmd
}

// pullImage pulls name into s with progress on out: what `tirith pull`
// and `tirith run --pull` share.
func pullImage(ctx context.Context, s *store.Store, name string, insecure []string, pol *trust.Policy, out io.Writer, quiet bool) (*store.Image, error) {
	r, err := ref.Parse(name)
	if err != nil {
		return nil, err
	}
	lp := newLayerProgress(out, quiet)
	opts := store.PullOptions{InsecureRegistries: insecure, Progress: lp.fn()}
	if pol != nil {
		opts.Verify = pol.VerifyPull
	}
	img, err := s.Pull(ctx, name, opts)
	lp.finish()
	if err != nil {
		return nil, pullError(err, r.Registry, insecure)
	}
	return img, nil
}

// pullForRun applies `tirith run --pull POLICY` (Docker's and podman's
// flag): missing (the default) pulls an image the store lacks, always
// pulls every time, never uses only the store. Progress goes to stderr:
// stdout is the container's.
func pullForRun(ctx context.Context, g *Globals, image, policy string, insecure []string, pol *trust.Policy, stderr io.Writer) error {
	switch policy {
	case "missing", "always":
	case "never":
		return nil
	default:
		return fmt.Errorf("--pull %q: want missing (the default), always or never", policy)
	}
	if engine.IsBuiltin(image) {
		return nil // made from the binary itself; there is nothing to pull
	}
	s, err := store.Open(g.Storage)
	if err != nil {
		return err
	}
	if policy == "missing" {
		_, err := s.Get(image)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return err
		}
		fmt.Fprintf(stderr, "Unable to find image '%s' locally\n", image)
	}
	img, err := pullImage(ctx, s, image, insecure, pol, stderr, false)
	if err != nil {
		return fmt.Errorf("--pull %s: %w", policy, err)
	}
	fmt.Fprintf(stderr, "Pulled %s (%s)\n", image, img.ID)
	return nil
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
