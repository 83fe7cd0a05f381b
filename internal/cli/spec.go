package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/spec"
)

func newSpecCmd() *cobra.Command {
	var bundle, userns string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec [--bundle DIR] [--rootless] [--userns auto|host]",
		Short: "Write Tirith's hardened default config.json into a bundle",
		Long: "Write Tirith's hardened default config.json into a bundle: what the front end enforces.\n" +
			"As root: a user namespace of the container's own with the rootfs idmapped into it,\n" +
			"memory 512 MiB without swap, pids 1024. --userns host: no user namespace, and then only\n" +
			"CAP_AUDIT_WRITE, CAP_KILL and CAP_NET_BIND_SERVICE. --rootless (the default for a normal\n" +
			"user): your own uid as container root, setgroups denied, no cgroup limits but pids (and\n" +
			"those only where a pids cgroup is delegated to you; otherwise a warning says wall 6 is down).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := spec.BundleOptions{Rootless: rootless || os.Geteuid() != 0}
			switch userns {
			case "auto":
			case "host":
				if cmd.Flags().Changed("rootless") {
					return errors.New("--rootless and --userns host exclude each other: a rootless container needs a user namespace")
				}
				o = spec.BundleOptions{HostIDs: true}
			default:
				return fmt.Errorf("--userns %q: want auto (the default: a user namespace of the container's own) or host", userns)
			}
			path := filepath.Join(bundle, spec.ConfigFile)
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("file %s exists: remove it first", path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			sp := spec.ForBundle(o)
			if o.Rootless && sp.Linux.Resources.Pids != nil {
				// Without a delegated pids cgroup the runtime would
				// refuse the limit; say that the wall is down instead.
				if _, err := cgroups.New(cgroups.Config{ID: "spec", Rootless: true, Resources: &specs.LinuxResources{Pids: sp.Linux.Resources.Pids}}); err != nil {
					sp.Linux.Resources.Pids = nil
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: no pids cgroup is delegated to uid %d: linux.resources.pids left out, so wall 6 (resources) is down: no pids or memory limit\n", cmd.CommandPath(), os.Geteuid())
				}
			}
			data, err := json.MarshalIndent(sp, "", "\t")
			if err != nil {
				return err
			}
			// O_EXCL: never overwrite, even if one appeared meanwhile.
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			if _, err := f.Write(append(data, '\n')); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory to write config.json into")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "for a normal user: map only your own uid, deny setgroups (the default when not root)")
	cmd.Flags().StringVar(&userns, "userns", "auto", "auto: a user namespace with an unprivileged host range (default); host: none, three capabilities only")
	return cmd
}
