package cli

import (
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/runtime"
)

func newFeaturesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print what this runtime implements (runtime-spec features JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJSON(cmd, runtime.Features())
		},
	}
}
