package runtime

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/runtime/initproc"
)

// InitError is a failure the container's init reported over the sync
// socket (initproc.Failure), as a Go error: Error is the init's message
// word for word (clients such as containerd parse it), and it unwraps to
// the errno, so errors.Is(err, unix.ENOENT) and errors.Is(err,
// fs.ErrNotExist) work. Kind decides the front end's exit code.
type InitError struct {
	Kind  initproc.Kind
	Errno unix.Errno // 0 when the failure had none
	Wall  int        // 1-7, or 0
	Field string     // the config.json field at fault, or ""
	Msg   string
}

func (e *InitError) Error() string { return e.Msg }

func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// initError turns an error message from the init back into an error.
func initError(m initproc.Message) error {
	f := m.Failure
	if f == nil {
		return errors.New("container init failed without saying why")
	}
	return &InitError{Kind: f.Kind, Errno: unix.Errno(f.Errno), Wall: f.Wall, Field: f.Field, Msg: f.Message}
}
