package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/runtime/initproc"
)

// An init error crosses the sync socket as a typed Failure and comes
// back as an InitError with the same text, unwrapping to its errno.
func TestInitErrorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		kind  initproc.Kind
		errno unix.Errno
		wall  int
		field string
	}{
		{
			name: "a wall step",
			err: &initproc.Fault{Kind: initproc.KindWall, Wall: 7, Field: "mounts[2]",
				Err: fmt.Errorf("wall 7 (filesystem): mounts[2]: %w", &os.PathError{Op: "mount", Path: "/src", Err: unix.ENOENT})},
			kind: initproc.KindWall, errno: unix.ENOENT, wall: 7, field: "mounts[2]",
		},
		{
			name: "the command",
			err:  &initproc.Fault{Kind: initproc.KindCommandNotExecutable, Field: "process.args", Err: fmt.Errorf(`exec "/data": /data is a directory: %w`, unix.EISDIR)},
			kind: initproc.KindCommandNotExecutable, errno: unix.EISDIR, field: "process.args",
		},
		{
			name: "an errno alone",
			err:  fmt.Errorf("set hostname: %w", os.NewSyscallError("sethostname", unix.EPERM)),
			kind: initproc.KindPermission, errno: unix.EPERM,
		},
		{name: "no errno", err: errors.New(`unknown init kind "x"`), kind: initproc.KindInternal},
	} {
		var wire bytes.Buffer
		if err := initproc.NewChildConn(&wire).Send(initproc.Message{Type: initproc.MsgError, Failure: initproc.NewFailure(tc.err)}); err != nil {
			t.Fatal(err)
		}
		var m initproc.Message
		if err := initproc.NewConn(&wire).Recv(&m); err != nil {
			t.Fatal(err)
		}
		got := initError(m)
		if got.Error() != tc.err.Error() {
			t.Errorf("%s: text %q, want %q", tc.name, got.Error(), tc.err.Error())
		}
		var ie *InitError
		if !errors.As(got, &ie) {
			t.Fatalf("%s: %T is not an *InitError", tc.name, got)
		}
		if ie.Kind != tc.kind || ie.Errno != tc.errno || ie.Wall != tc.wall || ie.Field != tc.field {
			t.Errorf("%s: %+v, want kind %s errno %v wall %d field %q", tc.name, ie, tc.kind, tc.errno, tc.wall, tc.field)
		}
		if tc.errno != 0 && (!errors.Is(got, tc.errno) || m.Failure.ErrnoName != unix.ErrnoName(tc.errno)) {
			t.Errorf("%s: errors.Is(%v) false or errno name %q", tc.name, tc.errno, m.Failure.ErrnoName)
		}
		if tc.errno == 0 && errors.Unwrap(got) != nil {
			t.Errorf("%s: unwraps to %v", tc.name, errors.Unwrap(got))
		}
	}
	// The errno is the kernel's, so the standard library's sentinels
	// match too.
	err := initError(initproc.Message{Type: initproc.MsgError, Failure: &initproc.Failure{Kind: initproc.KindCommandNotFound, Errno: int(unix.ENOENT), Message: "x"}})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("ENOENT does not match fs.ErrNotExist")
	}
}
