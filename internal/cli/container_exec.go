package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
)

func newFrontExecCmd(g *Globals) *cobra.Command {
	var o engine.ExecOptions
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running front-end container, behind its walls",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Args = args[1:]
			o.Stdio = engine.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
			code, err := newEngine(g).Exec(args[0], o)
			if err != nil {
				return frontEndError(cmd, err)
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	dockerFlagErrors(cmd)
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&o.TTY, "tty", "t", false, "allocate a pseudo-terminal")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable")
	f.StringVarP(&o.User, "user", "u", "", "USER[:GROUP], names or numbers")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory")
	return cmd
}
