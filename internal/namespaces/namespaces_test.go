package namespaces

import (
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestTable(t *testing.T) {
	if !Known(specs.MountNamespace) || Known("bogus") || Known("mnt") {
		t.Error("Known: want the runtime-spec names only")
	}
	if CloneFlag(specs.UserNamespace) != unix.CLONE_NEWUSER || CloneFlag("bogus") != 0 {
		t.Error("CloneFlag")
	}
	if File(specs.MountNamespace) != "mnt" || File(specs.NetworkNamespace) != "net" {
		t.Error("File")
	}
	if typ, ok := OfFlag(unix.CLONE_NEWNS); !ok || typ != specs.MountNamespace {
		t.Errorf("OfFlag(CLONE_NEWNS) = %q, %v", typ, ok)
	}
	if _, ok := OfFlag(unix.CLONE_VM); ok {
		t.Error("OfFlag accepted a flag that creates no namespace")
	}
	if got := Types(); !slices.Equal(got, []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"}) {
		t.Errorf("Types() = %v", got)
	}
}

// Every file the table names is one the kernel shows for a process (the
// time namespace only on kernels that have it).
func TestFilesExist(t *testing.T) {
	for _, f := range Files() {
		if _, err := os.Readlink("/proc/self/ns/" + f); err != nil && f != "time" {
			t.Errorf("/proc/self/ns/%s: %v", f, err)
		}
	}
}
