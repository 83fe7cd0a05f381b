package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/demo"
	"github.com/tirith-project/tirith/internal/probe"
	"github.com/tirith-project/tirith/internal/runtime"
)

func newDemoCmd() *cobra.Command {
	var root string
	var keepBundle, hostUsers bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a container from the built-in default bundle; its process reports which walls are up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := os.MkdirTemp("", "tirith-demo-")
			if err != nil {
				return err
			}
			if !keepBundle {
				defer os.RemoveAll(dir)
			}
			// MkdirTemp makes it 0700: the container's unprivileged
			// root needs no path to its rootfs (rootfs.Prepare).
			if err := demo.MakeBundle(dir, !hostUsers); err != nil {
				return err
			}
			if keepBundle {
				fmt.Fprintf(cmd.ErrOrStderr(), "bundle kept in %s\n", dir)
			}
			id := fmt.Sprintf("tirith-demo-%d", os.Getpid())
			code, err := runContainer(root, id, runtime.CreateOptions{Bundle: dir}, false, false)
			if err != nil {
				return err
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "state-root", "/run/tirith", "runtime state directory")
	cmd.Flags().BoolVar(&keepBundle, "keep-bundle", false, "keep the generated bundle and print its path")
	cmd.Flags().BoolVar(&hostUsers, "no-userns", false, "run without a user namespace (container root is host root)")
	return cmd
}

func newProbeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:    "probe",
		Short:  "Report, from inside a container, which walls are up",
		Hidden: true,
		Args:   cobra.NoArgs,
		// Runs inside the container: no logging setup, no state root.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := probe.Gather()
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
