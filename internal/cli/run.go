package cli

import (
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/spec"
)

func newRunCmd(g *Globals) *cobra.Command {
	var o runtime.CreateOptions
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER_ID",
		Short: "Create and start a container from a bundle, and in the foreground wait for it and delete it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.SystemdCgroup = g.SystemdCgroup
			code, err := runContainer(g.Root, args[0], o, detach, keep)
			if err != nil {
				return err
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	addCreateFlags(cmd, &o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits")
	return cmd
}

// runContainer is create + start (+ wait + delete in the foreground). With
// a terminal and no --console-socket, we serve the console ourselves.
func runContainer(root, id string, o runtime.CreateOptions, detach, keep bool) (int, error) {
	var fwd *runtime.Forwarder
	if !detach {
		fwd = runtime.ForwardSignals()
	}
	var console *runtime.ConsoleReceiver
	if o.ConsoleSocket == "" && !detach && terminalRequested(o.Bundle) {
		var err error
		if console, err = runtime.NewConsoleReceiver(); err != nil {
			return -1, err
		}
		defer console.Close()
		o.ConsoleSocket = console.Path
	}
	c, err := runtime.Create(root, id, o)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	restore := func() {}
	if console != nil {
		if restore, err = console.Attach(); err != nil {
			_ = c.Delete(runtime.DeleteOptions{Force: true})
			return -1, err
		}
	}
	if err := c.Start(); err != nil {
		restore()
		_ = c.Delete(runtime.DeleteOptions{Force: true})
		return -1, err
	}
	if detach {
		return 0, nil
	}
	pid := c.State.Pid
	// Waiting must not hold the container's lock: kill and state need it.
	c.Close()
	code, err := fwd.Wait(pid)
	restore()
	if err != nil {
		return -1, err
	}
	if !keep {
		c, err := runtime.Load(root, id)
		if err != nil {
			return code, err
		}
		defer c.Close()
		if err := c.Delete(runtime.DeleteOptions{Force: true}); err != nil {
			return code, err
		}
	}
	return code, nil
}

// terminalRequested peeks at the bundle's process.terminal; a broken
// config is reported by Create itself.
func terminalRequested(bundle string) bool {
	s, err := spec.Load(bundle)
	return err == nil && s.Process.Terminal
}
