package exitcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/runtime/initproc"
)

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"command not found", &runtime.InitError{Kind: initproc.KindCommandNotFound, Msg: `exec: "nonexist": executable file not found in $PATH`}, NotFound},
		{"command not executable", &runtime.InitError{Kind: initproc.KindCommandNotExecutable, Msg: `exec "/data": /data is a directory: is a directory`}, NotExecutable},
		{"wrapped", fmt.Errorf("create: %w", &runtime.InitError{Kind: initproc.KindCommandNotFound}), NotFound},
		{"a wall", &runtime.InitError{Kind: initproc.KindWall, Wall: 7, Msg: "wall 7 (filesystem): mounts[3]: permission denied"}, Tirith},
		{"a hook", &runtime.InitError{Kind: initproc.KindHook}, Tirith},
		{"a missing mount source", &runtime.InitError{Kind: initproc.KindNotFound, Msg: "no such file or directory"}, Tirith},
		// The text says "not found", the kind does not: the kind decides.
		{"text is not kind", &runtime.InitError{Kind: initproc.KindInternal, Msg: `exec: "x": executable file not found in $PATH`}, Tirith},
		{"plain error", errors.New(`exec: "x": executable file not found in $PATH`), Tirith},
		{"explicit code", fmt.Errorf("monitor: %w", &Error{Code: 126, Err: errors.New("x")}), 126},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
