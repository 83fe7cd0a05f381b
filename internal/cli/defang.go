package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/audit"
	"github.com/tirith-project/tirith/internal/image/store"
)

func newDefangCmd(g *Globals) *cobra.Command {
	var (
		tag  string
		opts audit.DefangOptions
	)
	cmd := &cobra.Command{
		Use:   "defang IMAGE --tag NEW [--keep PATH ...] [--strip-shells] [--strip-package-managers]",
		Short: "Write a new image with one added layer: no setuid/setgid bits or file capabilities (and optionally no shells or package managers)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tag == "" {
				return frontEndError(cmd, fmt.Errorf("--tag: the new image needs a name (the original is left as it is)"))
			}
			st, err := store.Open(g.Storage)
			if err != nil {
				return frontEndError(cmd, err)
			}
			img, err := st.Get(args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			in, err := audit.StoreImage(st, img, args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			res, err := audit.Defang(in, opts)
			if err != nil {
				return frontEndError(cmd, err)
			}
			by := "tirith defang"
			if opts.StripShells {
				by += " --strip-shells"
			}
			if opts.StripPackageManagers {
				by += " --strip-package-managers"
			}
			for _, k := range opts.Keep {
				by += " --keep " + k
			}
			out, err := st.AppendLayer(cmd.Context(), img, res.Layer, by, tag)
			if err != nil {
				return frontEndError(cmd, err)
			}
			e := cmd.ErrOrStderr()
			if len(res.Defanged) > 0 {
				fmt.Fprintf(e, "privileges removed: %s\n", strings.Join(res.Defanged, " "))
			}
			if len(res.Removed) > 0 {
				fmt.Fprintf(e, "removed: %s\n", strings.Join(res.Removed, " "))
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "name of the new image (required)")
	cmd.Flags().StringArrayVar(&opts.Keep, "keep", nil, "a path to leave as it is, and everything beneath it (repeatable)")
	cmd.Flags().BoolVar(&opts.StripShells, "strip-shells", false, "remove sh, bash, dash, ash, zsh, ... from the program directories")
	cmd.Flags().BoolVar(&opts.StripPackageManagers, "strip-package-managers", false, "remove apt, dpkg, apk, yum, dnf, rpm, pip, npm, ... from the program directories")
	dockerFlagErrors(cmd)
	return cmd
}
