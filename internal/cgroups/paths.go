package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"

	"github.com/tirith-project/tirith/internal/procfs"
)

// DefaultParent is the cgroup under which containers without a
// linux.cgroupsPath are placed, on every hierarchy: "/tirith/<id>".
const DefaultParent = "/tirith"

// hostRoot is where the kernel's cgroup filesystems are mounted.
const hostRoot = "/sys/fs/cgroup"

// Mode is the cgroup layout of a host.
type Mode string

const (
	// ModeV1 is cgroup v1 only: one hierarchy per controller.
	ModeV1 Mode = "v1"
	// ModeHybrid is cgroup v1 for the controllers plus a cgroup2 mount at
	// /sys/fs/cgroup/unified (the library joins it too; see doc.go).
	ModeHybrid Mode = "hybrid"
	// ModeV2 is the unified hierarchy only, mounted at the root.
	ModeV2 Mode = "v2"
)

// DetectMode reports the layout of this host's /sys/fs/cgroup.
func DetectMode() Mode {
	switch {
	case cgroups.IsCgroup2UnifiedMode():
		return ModeV2
	case cgroups.IsCgroup2HybridMode():
		return ModeHybrid
	default:
		return ModeV1
	}
}

// innerPath is the container's cgroup path inside each hierarchy, before it
// is joined to a mount point: "/tirith/<id>" by default, else cgroupsPath
// cleaned the way the library does (an absolute path is kept, a relative one
// cannot climb out with "..").
func innerPath(id, cgroupsPath string) (string, error) {
	if cgroupsPath == "" {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
			return "", fieldErr("id", "must be a non-empty name without %q to form the default cgroup path, got %q", "/", id)
		}
		return DefaultParent + "/" + id, nil
	}
	if strings.ContainsRune(cgroupsPath, 0) {
		return "", fieldErr("linux.cgroupsPath", "must not contain NUL")
	}
	var p string
	if filepath.IsAbs(cgroupsPath) {
		p = filepath.Clean(cgroupsPath)
	} else {
		// Clean as if rooted, then make relative again: "../../x" is "x".
		p, _ = filepath.Rel("/", filepath.Clean("/"+cgroupsPath))
	}
	if p == "/" || p == "." || p == "" {
		// Limits and Destroy would then act on the root or the runtime's
		// own cgroup.
		return "", fieldErr("linux.cgroupsPath", "must name a cgroup below the root, got %q", cgroupsPath)
	}
	return p, nil
}

// v2Dir is the directory of the container's cgroup on a unified hierarchy
// mounted at root. ownCgroup is the runtime's own v2 cgroup ("0::" line of
// /proc/self/cgroup); it is only used for relative paths. Like runc (fs2),
// a relative path is placed next to the runtime's own cgroup, not under it,
// because the runtime's cgroup holds processes and so, by the "no internal
// processes" rule, cannot give controllers to children.
func v2Dir(root, inner, ownCgroup string) string {
	if filepath.IsAbs(inner) {
		return filepath.Join(root, inner)
	}
	return filepath.Join(root, filepath.Dir(filepath.Clean("/"+ownCgroup)), inner)
}

// ownV2Cgroup reads the runtime's cgroup v2 path from /proc/self/cgroup.
func ownV2Cgroup() (string, error) {
	f, err := os.Open(procfs.Self("cgroup"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseOwnV2Cgroup(f)
}

func parseOwnV2Cgroup(r io.Reader) (string, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errors.New(`no "0::" line in /proc/self/cgroup`)
}

// checkStatePaths refuses a persisted state whose paths point outside the
// cgroup root, or at the root cgroup of a hierarchy: Destroy removes those
// directories and Set writes limits there, and the state file is input that
// could have been tampered with. minDepth is how many path elements below
// root a container cgroup has at least (v1: hierarchy + cgroup = 2).
func checkStatePaths(root string, paths map[string]string, minDepth int) error {
	for k, p := range paths {
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("cgroup state: path %q for %q is not absolute and clean", p, k)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || len(strings.Split(rel, "/")) < minDepth {
			return fmt.Errorf("cgroup state: path %q for %q is not a container cgroup below %s", p, k, root)
		}
	}
	return nil
}
