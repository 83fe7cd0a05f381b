package cli

import (
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/runtime"
)

func addCreateFlags(cmd *cobra.Command, o *runtime.CreateOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.Bundle, "bundle", "b", ".", "path to the bundle directory")
	f.StringVar(&o.PidFile, "pid-file", "", "file to write the container init's pid to")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master when process.terminal is set")
	f.BoolVar(&o.NoPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root (weaker; for ramdisk roots)")
	f.BoolVar(&o.NoNewKeyring, "no-new-keyring", false, "keep the runtime's session keyring instead of a new one")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "pass N extra fds (from fd 3 on) to the container")
}

func newCreateCmd(g *Globals) *cobra.Command {
	var o runtime.CreateOptions
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER_ID",
		Short: "Create a container from a bundle; its process waits for start",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.SystemdCgroup = g.SystemdCgroup
			c, err := runtime.Create(g.Root, args[0], o)
			if err != nil {
				return err
			}
			c.Close()
			return nil
		},
	}
	addCreateFlags(cmd, &o)
	return cmd
}

func newStartCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER_ID",
		Short: "Start the process of a created container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withContainer(g, args[0], (*runtime.Container).Start)
		},
	}
}
