package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// testRoot is a rootfs with symlinks that point out of it, and a host
// directory beside it that must never be reached.
func testRoot(t *testing.T) (*Root, string, string) {
	t.Helper()
	base := t.TempDir()
	root, host := filepath.Join(base, "rootfs"), filepath.Join(base, "host")
	for _, d := range []string{root + "/etc", root + "/run", host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"abs": host, "up": "../../host", "var-run": "/run", "dangling": "/nowhere/x", "self": "/proc/self/root",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &Root{Path: root, dir: f}, root, host
}

func where(t *testing.T, f *os.File) string {
	t.Helper()
	p, err := os.Readlink(procfs.SelfFD(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMkdirAllStaysInRoot(t *testing.T) {
	r, root, host := testRoot(t)
	for _, dest := range []string{"/a/b/c", "a/b", "/../../z", "/var-run/lock", "/etc", "/a/../a/./b/d"} {
		f, err := r.MkdirAll(dest, 0o755)
		if err != nil {
			t.Errorf("MkdirAll(%q): %v", dest, err)
			continue
		}
		got := where(t, f)
		f.Close()
		if !strings.HasPrefix(got, root+"/") && got != root {
			t.Errorf("MkdirAll(%q) landed on %s, outside the root %s", dest, got, root)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "run", "lock")); err != nil {
		t.Errorf("/var-run/lock was not made through the in-root link: %v", err)
	}
	// Links whose target is missing inside the root (the host's
	// directory exists, but not at that path in the root) are refused,
	// not followed to make their target.
	for _, dest := range []string{"/abs/x", "/up/y", "/dangling/sub"} {
		if f, err := r.MkdirAll(dest, 0o755); !errors.Is(err, unix.ENOTDIR) {
			if f != nil {
				t.Errorf("MkdirAll(%q) through a dangling link landed on %s", dest, where(t, f))
				f.Close()
			}
			t.Errorf("MkdirAll(%q): %v, want ENOTDIR", dest, err)
		}
	}
	if ents, _ := os.ReadDir(host); len(ents) != 0 {
		t.Errorf("something was created on the host side: %v", ents)
	}
	if _, err := r.MkdirAll("/etc/file/sub", 0o755); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("MkdirAll through a file: %v, want ENOTDIR", err)
	}
	if _, err := r.MkdirAll("/self/x", 0o755); err == nil {
		t.Errorf("MkdirAll through a /proc magic link succeeded")
	}
	if _, err := os.Stat("/nowhere"); err == nil {
		t.Errorf("MkdirAll through a dangling link created /nowhere on the host")
	}
}

func TestOpenStaysInRoot(t *testing.T) {
	r, root, _ := testRoot(t)
	for _, dest := range []string{"/abs", "/up", "/../..", "/var-run", "/etc/file"} {
		f, err := r.Open(dest)
		if err != nil {
			continue // a link to nothing inside the root: not found, fine
		}
		got := where(t, f)
		f.Close()
		if !strings.HasPrefix(got, root+"/") && got != root {
			t.Errorf("Open(%q) = %s, outside the root %s", dest, got, root)
		}
	}
	if _, err := r.Open("/self"); err == nil {
		t.Errorf("Open through a /proc magic link succeeded")
	}
}
