package initproc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The payload's lookup classifies its failures by what the kernel said,
// in runc's words (Go's exec.LookPath): Docker maps "executable file not
// found" and "no such file or directory" next to the command's name to
// exit code 127 and "permission denied" to 126, podman likewise.
func TestLookPathFailureKinds(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir}
	for _, tc := range []struct {
		file  string
		kind  Kind
		errno string
		msg   string
	}{
		{"/nonexist", KindCommandNotFound, "ENOENT", `exec: "/nonexist": stat /nonexist: no such file or directory`},
		{"nonexist", KindCommandNotFound, "", `exec: "nonexist": executable file not found in $PATH`},
		{filepath.Join(dir, "d"), KindCommandNotExecutable, "EISDIR", `exec: "` + dir + `/d": is a directory`},
		{"d", KindCommandNotFound, "", `exec: "d": executable file not found in $PATH`},
		{filepath.Join(dir, "f"), KindCommandNotExecutable, "EACCES", `exec: "` + dir + `/f": permission denied`},
		{"f", KindCommandNotFound, "", `exec: "f": executable file not found in $PATH`},
	} {
		_, err := lookPath(tc.file, env)
		if err == nil {
			t.Fatalf("lookPath(%q) succeeded", tc.file)
		}
		f := NewFailure(err)
		if f.Kind != tc.kind || f.ErrnoName != tc.errno || f.Field != "process.args" || f.Message != tc.msg {
			t.Errorf("lookPath(%q): %+v\nwant kind %s, errno %q, field process.args, message %q", tc.file, f, tc.kind, tc.errno, tc.msg)
		}
	}
}

// A wall's error names the wall in its text and in its fields.
func TestWallErrKeepsTheWording(t *testing.T) {
	err := wallErr(7, "mounts[3]", &os.PathError{Op: "mount", Path: "/x", Err: os.ErrPermission})
	if got, want := err.Error(), "wall 7 (filesystem): mounts[3]: mount /x: permission denied"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	f := NewFailure(err)
	if f.Kind != KindWall || f.Wall != 7 || f.Field != "mounts[3]" {
		t.Errorf("failure %+v", f)
	}
	if f := NewFailure(errors.New("unknown init kind")); f.Kind != KindInternal || f.Errno != 0 || f.Wall != 0 {
		t.Errorf("plain error: %+v", f)
	}
}
