package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// These run after pivot_root: "/" is the container's root and no lookup
// can reach the host. They still refuse to follow a final symlink, so a
// masked or read-only path planted as a link cannot move the protection
// elsewhere.

// ReadonlyRoot remounts / read-only.
func ReadonlyRoot() error {
	var sfs unix.Statfs_t
	if err := unix.Statfs("/", &sfs); err != nil {
		return os.NewSyscallError("statfs /", err)
	}
	flags := uintptr(sfs.Flags)&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}

// openNoFollow opens p as O_PATH without following a final symlink.
func openNoFollow(p string) (*os.File, error) {
	fd, err := unix.Open(filepath.Clean(p), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// MaskPaths hides each path: a directory gets an empty read-only tmpfs, a
// file gets /dev/null. /dev/null is verified to be the real character
// device 1:3 first, so a container that planted its own "null" cannot make
// the mask a window onto something else (CVE-2025-31133).
func MaskPaths(paths []string, mountLabel string) error {
	if len(paths) == 0 {
		return nil
	}
	null, err := os.OpenFile("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mask paths: open /dev/null: %w", err)
	}
	defer null.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(null.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat /dev/null", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return errors.New("mask paths: /dev/null is not the null device (1:3)")
	}
	for _, p := range paths {
		h, err := openNoFollow(p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %q: %w", p, err)
		}
		var hs unix.Stat_t
		err = unix.Fstat(int(h.Fd()), &hs)
		if err == nil {
			switch hs.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				data := "size=0,mode=0555"
				if mountLabel != "" {
					data += fmt.Sprintf(",context=%q", mountLabel)
				}
				err = unix.Mount("tmpfs", fdPath(h), "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data)
			case unix.S_IFLNK:
				// A symlink cannot be a mount point; nothing to hide.
			default:
				err = unix.Mount(fdPath(null), fdPath(h), "", unix.MS_BIND, "")
			}
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("mask %q: %w", p, err)
		}
	}
	return nil
}

// ReadonlyPaths bind-mounts each path onto itself read-only.
func ReadonlyPaths(paths []string) error {
	for _, p := range paths {
		h, err := openNoFollow(p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read-only %q: %w", p, err)
		}
		err = unix.Mount(fdPath(h), fdPath(h), "", unix.MS_BIND|unix.MS_REC, "")
		h.Close()
		if err != nil {
			return fmt.Errorf("read-only %q: bind: %w", p, err)
		}
		// Reopen: the handle above names the mount underneath.
		h, err = openNoFollow(p)
		if err != nil {
			return fmt.Errorf("read-only %q: %w", p, err)
		}
		var sfs unix.Statfs_t
		err = unix.Fstatfs(int(h.Fd()), &sfs)
		if err == nil {
			flags := uintptr(sfs.Flags)&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_REC
			err = unix.Mount("", fdPath(h), "", flags, "")
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("read-only %q: remount: %w", p, err)
		}
	}
	return nil
}
