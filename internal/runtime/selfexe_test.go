package runtime

import (
	"bytes"
	"errors"
	"os"
	"strconv"
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
