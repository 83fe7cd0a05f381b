package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/sbom"
	"github.com/tirith-project/tirith/internal/image/store"
)

func newSbomCmd(g *Globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "sbom [--format cyclonedx-json|spdx-json] IMAGE",
		Short: "Print the software bill of materials of an image in the store",
		Long: "List the packages of an image in the store (dpkg, apk, Go binaries' build info, Python\n" +
			"dist-info/egg-info, npm package.json under node_modules), each with the layer and path it\n" +
			"was read from, as CycloneDX (default) or SPDX JSON.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(sbom.Formats, format) {
				return fmt.Errorf("--format %q: want %s", format, strings.Join(sbom.Formats, " or "))
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			subj, cs, err := sbom.ForImage(s, args[0])
			if err != nil {
				return err
			}
			return sbom.Write(cmd.OutOrStdout(), format, subj, cs, time.Now())
		},
	}
	cmd.Flags().StringVar(&format, "format", "cyclonedx-json", "output format: cyclonedx-json or spdx-json")
	return cmd
}
