package rootfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Prepare makes the host's mounts invisible to propagation into ours and
// bind-mounts the rootfs onto itself so that it is a mount point (which
// pivot_root requires), or attaches idmapped (see IdmappedTree) there
// instead. propagation is the rootfs propagation asked for (default
// rslave: host mount events reach us, ours never reach the host).
func Prepare(rootfs string, propagation uintptr, idmapped *os.File) error {
	if propagation == 0 {
		propagation = unix.MS_SLAVE | unix.MS_REC
	}
	if err := unix.Mount("", "/", "", propagation, ""); err != nil {
		return fmt.Errorf("set propagation of /: %w", err)
	}
	if err := makeParentPrivate(rootfs); err != nil {
		return err
	}
	if idmapped != nil {
		return AttachTree(idmapped, rootfs)
	}
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %q onto itself: %w", rootfs, err)
	}
	return nil
}

// makeParentPrivate makes the mount holding rootfs private: pivot_root
// fails when the new root's parent mount is shared.
func makeParentPrivate(rootfs string) error {
	path := rootfs
	for {
		err := unix.Mount("", path, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || path == "/" {
			return fmt.Errorf("make parent mount of %q private: %w", rootfs, err)
		}
		// EINVAL: not a mount point; try its parent.
		path = parentDir(path)
	}
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

// PivotRoot makes rootfs the root and detaches the old root, so that no
// path in the container leads back to the host.
func PivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("open /", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %q: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return os.NewSyscallError("fchdir", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// no directory for it is needed inside the rootfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %q: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return os.NewSyscallError("fchdir", err)
	}
	// Keep the unmount of the old root from propagating to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return os.NewSyscallError("chdir /", err)
	}
	return nil
}

// MoveRoot is --no-pivot: move the rootfs over / and chroot. Weaker than
// pivot_root (the old root stays reachable to CAP_SYS_CHROOT), for
// ramdisk hosts where pivot_root is impossible.
func MoveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return os.NewSyscallError("chdir", err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs %q to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return os.NewSyscallError("chroot", err)
	}
	return unix.Chdir("/")
}
