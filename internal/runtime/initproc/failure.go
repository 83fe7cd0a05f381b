package initproc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/spec"
)

// Kind says what went wrong in the init, for the runtime and the front
// end's exit-code table (package exitcode): Docker's 126 and 127 are
// decided by it, never by the wording of the message.
type Kind string

const (
	// KindCommandNotFound: the payload (process.args[0]) does not exist
	// or is not in the container's PATH.
	KindCommandNotFound Kind = "command-not-found"
	// KindCommandNotExecutable: it exists but cannot be executed (a
	// directory, no execute permission, a noexec mount, not a program).
	KindCommandNotExecutable Kind = "command-not-executable"
	// KindWall: a step raising one of the seven walls failed (Wall says
	// which).
	KindWall Kind = "wall"
	// KindHook: a createContainer or startContainer hook failed.
	KindHook Kind = "hook"
	// KindNotFound, KindPermission, KindInvalidConfig: something the
	// config names (Field) does not exist, may not be used, or is not
	// valid.
	KindNotFound      Kind = "not-found"
	KindPermission    Kind = "permission"
	KindInvalidConfig Kind = "invalid-config"
	// KindInternal is anything else.
	KindInternal Kind = "internal"
)

// Failure is an error of the init's as it crosses the sync socket.
type Failure struct {
	Kind Kind `json:"kind"`
	// Errno and ErrnoName are the kernel's error, when there is one.
	Errno     int    `json:"errno,omitempty"`
	ErrnoName string `json:"errnoName,omitempty"`
	// Wall is the wall (1-7) whose step failed, or 0.
	Wall int `json:"wall,omitempty"`
	// Field is the config.json field at fault ("mounts[3]",
	// "process.cwd"), or "".
	Field string `json:"field,omitempty"`
	// Message is the error's text, exactly as the init worded it:
	// clients (containerd, scripts) read it.
	Message string `json:"message"`
}

// Fault is an init error that knows what it is: the steps return it so
// that NewFailure need not guess from the text. Error is Err's, as is.
type Fault struct {
	Kind  Kind // "": from the errno (see NewFailure)
	Wall  int
	Field string
	Err   error
}

func (f *Fault) Error() string { return f.Err.Error() }
func (f *Fault) Unwrap() error { return f.Err }

// wallErr is a failed step of wall: "wall N (name): [field: ]err".
func wallErr(wall int, field string, err error) error {
	if field != "" {
		err = fmt.Errorf("%s: %w", field, err)
	}
	return &Fault{Kind: KindWall, Wall: wall, Field: field, Err: fmt.Errorf("wall %d (%s): %w", wall, spec.WallNames[wall], err)}
}

// commandErr is a failure to find or execute the payload: not found for
// ENOENT, not executable for EACCES, EISDIR and ENOEXEC (Docker's 127
// and 126), unless a Fault inside already says.
func commandErr(err error) error {
	var f *Fault
	if errors.As(err, &f) && f.Kind != "" {
		// Classified where it was found out (a noexec mount, the
		// Landlock policy, no execute permission).
		out := *f
		if out.Field == "" {
			out.Field = "process.args"
		}
		out.Err = err
		return &out
	}
	kind := Kind("")
	switch {
	case errors.Is(err, unix.ENOENT):
		kind = KindCommandNotFound
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENOEXEC):
		kind = KindCommandNotExecutable
	}
	return &Fault{Kind: kind, Field: "process.args", Err: err}
}

// NewFailure describes err for the runtime. The outermost Fault gives
// kind, wall and field; a Fault without a kind (or none) is classified
// by its errno.
func NewFailure(err error) *Failure {
	fl := &Failure{Kind: KindInternal, Message: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		fl.Errno, fl.ErrnoName = int(errno), unix.ErrnoName(errno)
		switch errno {
		case unix.ENOENT, unix.ENOTDIR:
			fl.Kind = KindNotFound
		case unix.EACCES, unix.EPERM, unix.EROFS:
			fl.Kind = KindPermission
		case unix.EINVAL:
			fl.Kind = KindInvalidConfig
		}
	}
	var f *Fault
	if errors.As(err, &f) {
		fl.Wall, fl.Field = f.Wall, f.Field
		if f.Kind != "" {
			fl.Kind = f.Kind
		}
	}
	return fl
}
