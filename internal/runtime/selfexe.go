package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sealedExe returns a path to the running tirith binary on a read-only
// bind mount under root, creating it once per binary. The container's
// init is started from it, so /proc/PID/exe of anything that runs the
// runtime binary inside a container (for example through a payload whose
// interpreter is /proc/self/exe) names a read-only mount: opening it for
// writing fails with EROFS, and the host binary cannot be overwritten
// (CVE-2019-5736). It costs a stat and a statfs per create, where a memfd
// copy of the binary would cost milliseconds.
func sealedExe(root string) (string, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return "", os.NewSyscallError("stat /proc/self/exe", err)
	}
	dir := filepath.Join(root, ".exe")
	// One name per binary (device and inode): an upgraded binary gets a
	// new mount, and running containers keep theirs.
	target := filepath.Join(dir, fmt.Sprintf("tirith-%x-%x", self.Dev, self.Ino))
	if sealed(target, &self) {
		return target, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", os.NewSyscallError("flock", err)
	}
	if sealed(target, &self) { // another create won the race
		return target, nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o500)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("seal runtime binary: %w", err)
	}
	if f != nil {
		f.Close()
	}
	if err := unix.Mount("/proc/self/exe", target, "", unix.MS_BIND, ""); err != nil {
		return "", fmt.Errorf("seal runtime binary: bind mount: %w", err)
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return "", fmt.Errorf("seal runtime binary: remount read-only: %w", err)
	}
	if !sealed(target, &self) {
		return "", fmt.Errorf("seal runtime binary: %s is not a read-only mount of the runtime", target)
	}
	dropOldSeals(dir, target)
	return target, nil
}

// dropOldSeals detaches the mounts of binaries that no longer exist on
// the host (replaced by an upgrade or a rebuild: their inode has no link
// left). Another binary still in place may be in use by a concurrent
// tirith, so it stays. MNT_DETACH is lazy: an init still running from an
// old seal (a created, not yet started container) keeps it until it
// execs.
func dropOldSeals(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "tirith-*"))
	for _, p := range old {
		var st unix.Stat_t
		if p == keep || unix.Stat(p, &st) != nil || st.Nlink != 0 {
			continue
		}
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
	}
}

// sealed reports whether target is self on a read-only mount.
func sealed(target string, self *unix.Stat_t) bool {
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if unix.Stat(target, &st) != nil || unix.Statfs(target, &sfs) != nil {
		return false
	}
	return st.Dev == self.Dev && st.Ino == self.Ino && sfs.Flags&unix.ST_RDONLY != 0
}
