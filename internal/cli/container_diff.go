package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
)

func newDiffCmd(g *Globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "diff [--format table|json] CONTAINER",
		Short: "List files added (A), changed (C) or deleted (D) in a container's root filesystem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return frontEndError(cmd, fmt.Errorf("--format: unknown format %q (want table or json)", format))
			}
			changes, err := newEngine(g).Diff(args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if changes == nil {
					changes = []engine.Change{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(changes)
			}
			// Docker's lines on stdout, for scripts; the executables
			// flagged on stderr.
			for _, c := range changes {
				fmt.Fprintf(out, "%s %s\n", c.Kind, c.Path)
			}
			if ex := engine.Summarize(changes).Executables; len(ex) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: %d new or changed executable(s): %s\n", len(ex), strings.Join(ex, " "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table (Docker's) or json")
	dockerFlagErrors(cmd)
	return cmd
}
