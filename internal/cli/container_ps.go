package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newFrontPsCmd(g *Globals) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [-a] [-q] [--format table|json]",
		Short: "List front-end containers (running ones; -a for all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e := newEngine(g)
			recs, err := e.List()
			if err != nil {
				return frontEndError(cmd, err)
			}
			w := cmd.OutOrStdout()
			type row struct {
				ID        string    `json:"id"`
				Name      string    `json:"name"`
				Image     string    `json:"image"`
				Command   []string  `json:"command"`
				Created   time.Time `json:"created"`
				Status    string    `json:"status"`
				ExitCode  int       `json:"exitCode"`
				OOMKilled bool      `json:"oomKilled"`
				Pid       int       `json:"pid,omitempty"`
				Network   string    `json:"network,omitempty"`
				IPAddress string    `json:"ipAddress,omitempty"`
				Ports     []string  `json:"ports,omitempty"`
			}
			rows := []row{}
			for _, r := range recs {
				e.Refresh(r)
				if !all && r.Status != "running" {
					continue
				}
				rw := row{ID: r.ID, Name: r.Name, Image: r.Image, Command: r.Cmd, Created: r.Created, Status: r.Status, ExitCode: r.ExitCode, OOMKilled: r.OOMKilled, Pid: r.Pid, Network: r.Network}
				if r.Status == "running" {
					// Address and proxy go with the process.
					rw.IPAddress = r.IPAddress
					for _, m := range r.Ports {
						rw.Ports = append(rw.Ports, m.Short())
					}
				}
				rows = append(rows, rw)
			}
			switch {
			case quiet:
				for _, r := range rows {
					fmt.Fprintln(w, r.ID[:12])
				}
			case format == "json":
				return json.NewEncoder(w).Encode(rows)
			case format == "table" || format == "":
				tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
				for _, r := range rows {
					status := r.Status
					if r.Status == "exited" {
						status = fmt.Sprintf("exited (%d)", r.ExitCode)
						if r.OOMKilled {
							status += " oom-killed"
						}
					}
					command := strings.Join(r.Command, " ")
					if len(command) > 30 {
						command = command[:27] + "..."
					}
					fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", r.ID[:12], r.Image, command, r.Created.Local().Format(time.DateTime), status, strings.Join(r.Ports, ", "), r.Name)
				}
				return tw.Flush()
			default:
				return frontEndError(cmd, fmt.Errorf("--format %q: want table or json", format))
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers, not only running ones")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only ids")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}
