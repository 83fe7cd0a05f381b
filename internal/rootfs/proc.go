package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ProcBindAllowed are the only paths under /proc a config.json mount may
// cover: the files lxcfs emulates, as runc allows. Anything else under
// /proc is refused: a mount there is not made read-only with /proc/sys
// (a remount does not reach the mounts below it), so a host file bound
// onto a sysctl would stay writable, and a mount could shadow the masks.
var ProcBindAllowed = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
	"/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
	"/proc/net/dev", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled",
}

// CheckProcDestination refuses a mount destination (clean, absolute,
// inside the container) under /proc but for a proc mount at /proc itself
// (or a bind of a procfs there, checked at mount time) and binds onto
// the ProcBindAllowed files.
func CheckProcDestination(dest, typ string, bind bool) error {
	if dest != "/proc" && !strings.HasPrefix(dest, "/proc/") {
		return nil
	}
	if dest == "/proc" {
		if typ == "proc" || bind {
			return nil
		}
		return fmt.Errorf("only a proc mount may be mounted at /proc, not %q", typ)
	}
	for _, p := range ProcBindAllowed {
		if dest == p {
			return nil
		}
	}
	return fmt.Errorf("mounts under /proc are refused, except onto %s", strings.Join(ProcBindAllowed, ", "))
}

// resolvedDest is where handle h (a mount target opened inside the root)
// lies inside the container: symlinks in the rootfs followed, as the
// kernel will mount.
func (r *Root) resolvedDest(h *os.File) (string, error) {
	root, err := os.Readlink(fdPath(r.dir))
	if err != nil {
		return "", err
	}
	p, err := os.Readlink(fdPath(h))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("resolves to %q, outside the rootfs", p)
	}
	return filepath.Clean("/" + rel), nil
}

// checkTarget applies CheckProcDestination to where dest resolved (the
// open target), and refuses a target outside /proc that is on a procfs
// all the same (a proc mounted at another place is no less the kernel's
// knobs).
func (r *Root) checkTarget(dest string, target *os.File, typ string, bind bool) (string, error) {
	resolved, err := r.resolvedDest(target)
	if err != nil {
		return "", fmt.Errorf("mount on %q: %w", dest, err)
	}
	if err := CheckProcDestination(resolved, typ, bind); err != nil {
		return "", fmt.Errorf("mount on %q (resolved to %q): %w", dest, resolved, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(target.Fd()), &sfs); err != nil {
		return "", fmt.Errorf("mount on %q: %w", dest, os.NewSyscallError("fstatfs", err))
	}
	if sfs.Type == unix.PROC_SUPER_MAGIC && resolved != "/proc" && !strings.HasPrefix(resolved, "/proc/") {
		return "", fmt.Errorf("mount on %q (resolved to %q): the target is on a proc filesystem", dest, resolved)
	}
	return resolved, nil
}

// checkProcSource refuses a bind mount at /proc whose source is not a
// procfs: /proc must stay the kernel's.
func checkProcSource(source string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(source, &sfs); err != nil {
		return &os.PathError{Op: "statfs", Path: source, Err: err}
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("bind mount %q on \"/proc\": the source is not a proc filesystem", source)
	}
	return nil
}
