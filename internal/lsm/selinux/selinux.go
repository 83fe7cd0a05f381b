package selinux

import (
	"errors"
	"os"

	"github.com/tirith-project/tirith/internal/procfs"
)

// ErrNotEnabled: the host does not run SELinux.
var ErrNotEnabled = errors.New("SELinux is not enabled on this host")

// Enabled reports whether the host runs SELinux (selinuxfs is mounted).
func Enabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// SetExecLabel makes the calling thread's next execve run with label. A
// host without SELinux is an error, as in runc: running unlabelled
// instead would be a lie.
func SetExecLabel(label string) error {
	if !Enabled() {
		return ErrNotEnabled
	}
	return os.WriteFile(procfs.ThreadSelf("attr", "exec"), []byte(label), 0)
}
