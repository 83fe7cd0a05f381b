package rootfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// IdmapAnnotation asks for the rootfs to be mounted idmapped to the
// container's user namespace ("true"): files the host sees as owned by
// uid N appear owned by uid N inside, and what container root writes is
// stored as uid 0 on the host. Without it, a rootfs owned by host root
// shows as nobody in a user namespace, and cannot be written. It needs a
// new user namespace and a filesystem that supports idmapped mounts.
const IdmapAnnotation = "io.github.tirith.rootfs-idmap"

// IdmappedTree clones the tree at rootfs (recursively) into a detached
// mount idmapped with the user namespace at usernsPath. Only a process
// privileged over the filesystem (the runtime, on the host) can make
// one; the container's init attaches it with AttachTree.
func IdmappedTree(rootfs, usernsPath string) (*os.File, error) {
	ns, err := os.Open(usernsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	fd, err := unix.OpenTree(unix.AT_FDCWD, rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("idmap rootfs %q: open_tree: %w", rootfs, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("idmap rootfs %q: mount_setattr (does its filesystem support idmapped mounts?): %w", rootfs, err)
	}
	return os.NewFile(uintptr(fd), "idmapped-rootfs"), nil
}

// AttachTree mounts a detached tree on rootfs, where Prepare would
// otherwise bind-mount the rootfs onto itself.
func AttachTree(tree *os.File, rootfs string) error {
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach idmapped rootfs on %q: %w", rootfs, err)
	}
	return nil
}
