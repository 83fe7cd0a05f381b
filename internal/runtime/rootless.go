package runtime

import (
	"os"
	"path/filepath"
	"strconv"
)

// Rootless reports whether the runtime runs as an unprivileged user:
// then only what that user may do is done (its own id mapped, or its
// subordinate ranges through newuidmap; cgroups only where delegated;
// the runtime binary sealed in a memfd), and the rest is an error.
func Rootless() bool { return os.Geteuid() != 0 }

// DefaultRoot is where container state lives unless --root says
// otherwise: /run/tirith for root; for an unprivileged user, as with
// runc, $XDG_RUNTIME_DIR/tirith (else /run/user/UID/tirith), a
// directory of its own that no other user can reach.
func DefaultRoot() string {
	if !Rootless() {
		return "/run/tirith"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "tirith")
	}
	return filepath.Join("/run/user", strconv.Itoa(os.Geteuid()), "tirith")
}
