package runtime

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/testutil"
)

// The memfd fallback (kernels without mount_setattr) is the binary, and
// sealed: neither a write through the fd nor a reopen for writing gets
// bytes into it.
func TestSealedCopyIsTheBinaryAndImmutable(t *testing.T) {
	f, err := sealedCopy()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("memfd copy differs from the binary (%d vs %d bytes, %v)", len(got), len(want), err)
	}
	if _, err := unix.Pwrite(int(f.Fd()), []byte("x"), 0); !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EBADF) {
		t.Fatalf("write to the sealed copy: %v, want EPERM", err)
	}
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if err == nil {
		t.Fatal("wrote to the sealed copy through a reopen")
	}
}

// The detached mount is read-only and in no mount namespace.
func TestSealedMountIsReadOnlyAndDetached(t *testing.T) {
	testutil.RequireRoot(t)
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sealExe()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Not a reopen for writing: this running binary is ETXTBSY first.
	var sfs unix.Statfs_t
	if err := unix.Statfs(s.path, &sfs); err != nil || sfs.Flags&unix.ST_RDONLY == 0 {
		t.Fatalf("statfs %s: flags %#x, %v: want a read-only mount", s.path, sfs.Flags, err)
	}
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("sealing changed the mount table:\n%s\n---\n%s", before, after)
	}
}

// Per-create cost of the seal (BENCHMARKS.md, "Runtime binary seal").
func BenchmarkSealMount(b *testing.B) {
	testutil.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		s, err := sealExe()
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// The memfd alternative, for comparison.
func BenchmarkSealCopy(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f, err := sealedCopy()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// An unprivileged caller (rootless) may not clone a mount: the seal falls
// back to the sealed memfd copy rather than failing ("seal runtime
// binary: ... operation not permitted"). The test binary, copied where
// uid 65534 can run it, seals itself as that uid.
func TestSealUnprivilegedFallsBackToCopy(t *testing.T) {
	if os.Getenv("TIRITH_TEST_SEAL_CHILD") == "1" {
		s, err := sealExe()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		seals, err := unix.FcntlInt(s.f.Fd(), unix.F_GET_SEALS, 0)
		if err != nil || seals&unix.F_SEAL_WRITE == 0 {
			t.Fatalf("seal as uid %d: seals %#x, %v; want the sealed memfd copy", os.Getuid(), seals, err)
		}
		return
	}
	testutil.RequireRoot(t)
	dir := t.TempDir()
	testutil.OpenToAll(t, dir)
	bin := dir + "/runtime.test"
	data, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestSealUnprivilegedFallsBackToCopy$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{"TIRITH_TEST_SEAL_CHILD=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seal as uid 65534: %v\n%s", err, out)
	}
}
