package demo

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/testutil"
)

func TestBuiltinRootfsTarIsReproducible(t *testing.T) {
	var a, b bytes.Buffer
	if err := RootfsTar(&a); err != nil {
		t.Fatal(err)
	}
	if err := RootfsTar(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two tars of the same binary differ")
	}
	names := map[string]*tar.Header{}
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = h
	}
	for _, n := range []string{"bin/tirith", "etc/passwd", "etc/group", "proc/", "dev/", "sys/", "tmp/", "run/", "etc/"} {
		if names[n] == nil {
			t.Errorf("tar lacks %s", n)
		}
	}
	if h := names["tmp/"]; h != nil && h.Mode != 0o1777 {
		t.Errorf("tmp/ mode = %o, want 1777", h.Mode)
	}
}

func TestBuiltinEnsureBuiltin(t *testing.T) {
	testutil.RequireRoot(t)
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := EnsureBuiltin(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/bin/tirith", "probe"}; !slices.Equal(img.Config.Cmd, want) {
		t.Errorf("Cmd = %q, want %q", img.Config.Cmd, want)
	}
	if !slices.Contains(img.Names, "docker.io/tirith/demo:latest") {
		t.Errorf("names = %q, want docker.io/tirith/demo:latest", img.Names)
	}
	got, err := s.Get("tirith/demo")
	if err != nil || got.ID != img.ID {
		t.Fatalf("Get(tirith/demo) = %v, %v; want %s", got, err, img.ID)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 {
		t.Fatalf("layer dirs = %q, want one", dirs)
	}
	root := dirs[0]
	st, err := os.Stat(filepath.Join(root, "bin", "tirith"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("/bin/tirith mode %v is not executable", st.Mode())
	}
	if st, err := os.Stat(filepath.Join(root, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v, %v; want drwxrwxrwt", st.Mode(), err)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil || !bytes.Contains(passwd, []byte("\nnobody:x:65534:")) {
		t.Errorf("/etc/passwd = %q, %v; want root and nobody", passwd, err)
	}

	// Runnable: the binary starts in a chroot of the layer, which proves
	// its interpreter and libraries came along. (Here /bin/tirith is this
	// test binary; run it with no test selected.)
	cmd := exec.Command("/bin/tirith", "-test.run=^$")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("run /bin/tirith in the image's rootfs: %v\n%s", err, out)
	}

	// A second call finds the image made from the same binary.
	again, err := EnsureBuiltin(s)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != img.ID {
		t.Errorf("second EnsureBuiltin gave %s, want %s", again.ID, img.ID)
	}
	list, _ := s.List()
	if len(list) != 1 {
		t.Errorf("store holds %d images, want 1", len(list))
	}
}
