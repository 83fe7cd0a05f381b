// Package exitcode is the one table from Tirith's errors to the front
// end's exit codes, Docker's: 125 when Tirith itself failed, 126 when
// the command cannot be executed, 127 when it does not exist; a
// container that ran exits with its payload's own code (not an error).
// The init's typed failures (runtime.InitError) decide 126 and 127; the
// wording of a message never does.
package exitcode

import (
	"errors"

	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/runtime/initproc"
)

// Docker's exit codes for a command that did not run.
const (
	Tirith        = 125
	NotExecutable = 126
	NotFound      = 127
)

// byKind is the table: the init's failure kinds that are the command's
// fault. Every other kind is Tirith's (a wall, a hook, the config).
var byKind = map[initproc.Kind]int{
	initproc.KindCommandNotFound:      NotFound,
	initproc.KindCommandNotExecutable: NotExecutable,
}

// Error is an error with the exit code to use for it, decided where the
// error's origin is no longer at hand (a detached container's monitor
// reports it over a pipe).
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Of is the exit code for err: an Error's own code, the table's for an
// init failure, else Tirith.
func Of(err error) int {
	var ee *Error
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ie *runtime.InitError
	if errors.As(err, &ie) {
		if code, ok := byKind[ie.Kind]; ok {
			return code
		}
	}
	return Tirith
}
