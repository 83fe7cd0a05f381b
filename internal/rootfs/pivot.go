package rootfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Prepare makes the host's mounts invisible to propagation into ours and
// makes the rootfs a mount of its own (which pivot_root requires): a
// recursive clone of the tree at the current directory, or idmapped (see
// IdmappedTree), attached on the current directory. On return the
// current directory is the root of that mount.
//
// Preconditions: the current directory is the rootfs. The runtime
// started us there (as host root, before our namespaces existed), and
// unshare(CLONE_NEWNS) moved it to the same place in our mount
// namespace: the rootfs's path is never looked up again, so it may sit
// below directories that the container's user-namespaced root cannot
// search (the front end's 0700 --storage). rootfs only names it in
// errors and for shared propagation (makeParentPrivate).
//
// propagation is the rootfs propagation asked for (default rslave: host
// mount events reach us, ours never reach the host).
func Prepare(rootfs string, propagation uintptr, idmapped *os.File) error {
	if propagation == 0 {
		propagation = unix.MS_SLAVE | unix.MS_REC
	}
	if err := unix.Mount("", "/", "", propagation, ""); err != nil {
		return fmt.Errorf("set propagation of /: %w", err)
	}
	// pivot_root refuses a new root whose parent mount is shared. After
	// a recursive slave or private no mount of ours is shared; otherwise
	// the parent is made private by path (so that case still needs a
	// rootfs the container's root can reach).
	if propagation&unix.MS_REC == 0 || propagation&unix.MS_SHARED != 0 {
		if err := makeParentPrivate(rootfs); err != nil {
			return err
		}
	}
	tree := idmapped
	if tree == nil {
		fd, err := unix.OpenTree(unix.AT_FDCWD, ".", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return fmt.Errorf("clone rootfs %q: open_tree: %w", rootfs, err)
		}
		tree = os.NewFile(uintptr(fd), "rootfs-tree")
		defer tree.Close()
	}
	if err := AttachTree(tree, "."); err != nil {
		return fmt.Errorf("rootfs %q: %w", rootfs, err)
	}
	if idmapped != nil && propagation&unix.MS_SHARED == 0 {
		// The idmapped tree was cloned in the host's mount namespace
		// and kept its propagation there: a shared peer of the host's
		// mounts would carry every mount we make on it to the host.
		if err := unix.Mount("", fdPath(tree), "", propagation|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("set propagation of idmapped rootfs %q: %w", rootfs, err)
		}
	}
	// The tree's fd is its root: "." becomes the new mount rather than
	// the directory it covers.
	if err := unix.Fchdir(int(tree.Fd())); err != nil {
		return fmt.Errorf("rootfs %q: %w", rootfs, os.NewSyscallError("fchdir", err))
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

// PivotRoot makes the current directory (the rootfs mount Prepare left us
// in) the root and detaches the old root, so that no path in the
// container leads back to the host.
func PivotRoot() error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("open /", err)
	}
	defer unix.Close(oldroot)
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// no directory for it is needed inside the rootfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into the rootfs: %w", err)
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

// MoveRoot is --no-pivot: move the rootfs mount (the current directory,
// see Prepare) over / and chroot. Weaker than pivot_root (the old root
// stays reachable to CAP_SYS_CHROOT), for ramdisk hosts where pivot_root
// is impossible.
func MoveRoot() error {
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return os.NewSyscallError("chroot", err)
	}
	return unix.Chdir("/")
}
