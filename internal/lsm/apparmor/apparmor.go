package apparmor

import (
	"errors"
	"os"
	"strings"

	"github.com/tirith-project/tirith/internal/procfs"
)

// ErrNotEnabled: the host does not run AppArmor.
var ErrNotEnabled = errors.New("AppArmor is not enabled on this host")

// Enabled reports whether the host runs AppArmor.
func Enabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}

// SetExecProfile makes the calling thread's next execve run under
// profile. A host without AppArmor is an error, as in runc: running
// unconfined instead would be a lie.
func SetExecProfile(profile string) error {
	if !Enabled() {
		return ErrNotEnabled
	}
	// The per-LSM attribute directory (5.8+) first: with several LSMs
	// stacked, attr/exec may belong to another one.
	p := procfs.ThreadSelf("attr", "apparmor", "exec")
	if _, err := os.Stat(p); err != nil {
		p = procfs.ThreadSelf("attr", "exec")
	}
	return os.WriteFile(p, []byte("exec "+profile), 0)
}
