package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// ExitError carries a process's exit code through cobra (run and exec
// exit with the container's code, like runc).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	name := filepath.Base(args[0])
	root := NewRootCmd(name)
	if name == "tirith" {
		routeFrontEnd(root, args[1:])
	}
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
	return 1
}
