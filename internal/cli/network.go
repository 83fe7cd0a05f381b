package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newNetworkCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage bridge networks (create, ls, rm, inspect)",
		Args:  cobra.NoArgs,
	}
	var subnet string
	var internal bool
	create := &cobra.Command{
		Use:   "create [--subnet CIDR] [--internal] NAME",
		Short: "Create a bridge network whose members reach each other by name",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := newEngine(g).Networks().Create(args[0], subnet, internal)
			if err != nil {
				return frontEndError(cmd, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.Name)
			return nil
		},
	}
	create.Flags().StringVar(&subnet, "subnet", "", "IPv4 subnet in CIDR form (default: a free /24 of 10.89.0.0/16)")
	create.Flags().BoolVar(&internal, "internal", false, "no route out of the network (members reach only each other)")
	var quiet bool
	ls := &cobra.Command{
		Use:     "ls [-q]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			nets, err := newEngine(g).Networks().Networks()
			if err != nil {
				return frontEndError(cmd, err)
			}
			w := cmd.OutOrStdout()
			if quiet {
				for _, n := range nets {
					fmt.Fprintln(w, n.Name)
				}
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDRIVER\tBRIDGE\tSUBNET\tINTERNAL\tISOLATED")
			for _, n := range nets {
				subnet := n.Subnet
				if subnet == "" {
					subnet = "(picked at first use)" // the default network, never used yet
				}
				fmt.Fprintf(tw, "%s\tbridge\t%s\t%s\t%t\t%t\n", n.Name, n.Bridge, subnet, n.Internal, n.Isolated)
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only names")
	rm := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove networks no container uses",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range args {
				if err := newEngine(g).Networks().Remove(n); err != nil {
					return frontEndError(cmd, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	inspect := &cobra.Command{
		Use:   "inspect NAME...",
		Short: "Show networks and their members as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, err := newEngine(g).InspectNetworks(args...)
			if err != nil {
				return frontEndError(cmd, err)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "    ")
			return enc.Encode(infos)
		},
	}
	for _, c := range []*cobra.Command{create, ls, rm, inspect} {
		dockerFlagErrors(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func newPortCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List a running container's published ports",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := newEngine(g).Ports(args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				for _, m := range ms {
					fmt.Fprintln(w, m.String())
				}
				return nil
			}
			want := args[1]
			if !strings.Contains(want, "/") {
				want += "/tcp"
			}
			found := false
			for _, m := range ms {
				if fmt.Sprintf("%d/%s", m.ContainerPort, m.Proto) == want {
					fmt.Fprintln(w, strings.TrimPrefix(m.String(), want+" -> "))
					found = true
				}
			}
			if !found {
				return frontEndError(cmd, fmt.Errorf("no public port '%s' published for %s", want, args[0]))
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	return cmd
}
