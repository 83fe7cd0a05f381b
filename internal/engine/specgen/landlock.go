package specgen

import (
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// executeSplit is the default policy's execute/noExecute pair for these
// mounts: everything, minus every mount the container can write (each
// mount not marked "ro": the scratch tmpfs, /dev, rw volumes, --tmpfs),
// plus the read-only volumes that lie beneath one of those (their files
// cannot be written, so they may run). Landlock expands it against the
// container's real mounts when it applies the policy.
func executeSplit(mounts []specs.Mount) (execute, noExecute []string) {
	execute = []string{"/"}
	for _, m := range mounts {
		if !slices.Contains(m.Options, "ro") && !Under(path.Clean(m.Destination), noExecute) {
			noExecute = slices.DeleteFunc(noExecute, func(d string) bool { return Under(d, []string{path.Clean(m.Destination)}) })
			noExecute = append(noExecute, path.Clean(m.Destination))
		}
	}
	for _, m := range mounts {
		d := path.Clean(m.Destination)
		if m.Type == "bind" && slices.Contains(m.Options, "ro") && !slices.Contains(m.Options, "noexec") && Under(d, noExecute) {
			execute = append(execute, d)
		}
	}
	return execute, noExecute
}

// Under says whether p is one of dirs or beneath one.
func Under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
