package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/runtime"
)

func newStateCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER_ID",
		Short: "Print a container's runtime-spec state as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withContainer(g, args[0], func(c *runtime.Container) error { return printJSON(cmd, c.OCI()) })
		},
	}
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newListCmd(g *Globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := runtime.List(g.Root)
			if err != nil {
				return err
			}
			states := []runtime.OCIState{}
			for _, id := range ids {
				c, err := runtime.Load(g.Root, id)
				if errors.Is(err, runtime.ErrNotExist) {
					continue // deleted meanwhile, or a create's debris
				}
				if err != nil {
					return err
				}
				states = append(states, c.OCI())
				c.Close()
			}
			if quiet {
				for _, s := range states {
					fmt.Fprintln(cmd.OutOrStdout(), s.ID)
				}
				return nil
			}
			switch format {
			case "json":
				return json.NewEncoder(cmd.OutOrStdout()).Encode(states)
			case "table":
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 12, 1, 3, ' ', 0)
				fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			}
			return fmt.Errorf("--format: unknown format %q (want table or json)", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the container ids")
	return cmd
}
