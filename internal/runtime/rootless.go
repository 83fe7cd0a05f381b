package runtime

import (
	"os"
	"path/filepath"

	"github.com/moby/sys/userns"

	"github.com/tirith-project/tirith/internal/rootless"
)

// Rootless reports whether the runtime runs without host root: as an
// unprivileged user, or as root of a user namespace (the rootless front
// end's). Then only what such a caller may do is done (its own id
// mapped, or its subordinate ranges through newuidmap; cgroups only
// where delegated; the runtime binary sealed in a memfd), and a limit
// it cannot set is an error.
func Rootless() bool { return os.Geteuid() != 0 || userns.RunningInUserNS() }

// DefaultRoot is where container state lives unless --root says
// otherwise: /run/tirith for root; for an unprivileged user, as with
// runc, a directory under $XDG_RUNTIME_DIR (see rootless.RuntimeDir).
func DefaultRoot() string {
	// Root of a user namespace made by someone else's rootless tool
	// (podman's) counts as rootless too when it has a runtime dir of
	// its own, as runc decides.
	other := userns.RunningInUserNS() && os.Getenv("XDG_RUNTIME_DIR") != "" && os.Getenv("USER") != "root"
	if !rootless.Active() && !other {
		return "/run/tirith"
	}
	return filepath.Join(rootless.RuntimeDir(), "tirith")
}
