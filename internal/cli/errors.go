package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// ExitError carries a process's exit code through cobra (run and exec
// exit with the container's code, like runc).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// exitUnknownCommand is runc's exit code for a verb it does not have
// ("No help topic for 'images'"): a client probing for a verb sees the
// same from tirith-runc as from runc.
const exitUnknownCommand = 3

// unknownCommandError is a verb that cmd does not have.
type unknownCommandError struct {
	cmd  *cobra.Command
	verb string
}

func (e *unknownCommandError) Error() string {
	msg := fmt.Sprintf("unknown command %q for %q", e.verb, e.cmd.CommandPath())
	if s := e.cmd.SuggestionsFor(e.verb); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, ", ") + "?)"
	}
	return msg
}

// noUnknownVerb is the Args of a command that only has subcommands: an
// argument is a verb it lacks (cobra would print the help instead, for
// any command but the root).
func noUnknownVerb(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &unknownCommandError{cmd: cmd, verb: args[0]}
	}
	return nil
}

// unknownVerbFlagErrors makes `tirith-runc images --format json` an
// unknown command, as runc says, rather than an unknown flag: cobra
// parses the flags of the command it found (the parent) before looking
// at the argument that was meant as a verb.
func unknownVerbFlagErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if a := c.Flags().Args(); len(a) > 0 && c.HasSubCommands() {
			return &unknownCommandError{cmd: c, verb: a[0]}
		}
		return err
	})
}

// Main runs the CLI and returns the process exit code. The name it was
// invoked by (argv[0]) picks the grammar: see RuncNames.
func Main(args []string) int {
	name := filepath.Base(args[0])
	root := NewRootCmd(name)
	root.SetArgs(args[1:])
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if logWriter != nil {
		slog.Error(err.Error())
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	var uc *unknownCommandError
	if errors.As(err, &uc) {
		return exitUnknownCommand
	}
	return 1
}
