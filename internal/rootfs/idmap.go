package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// IdmapAnnotation asks for the rootfs to be mounted idmapped to the
// container's user namespace ("true"): files the host sees as owned by
// uid N appear owned by uid N inside, and what container root writes is
// stored as uid 0 on the host. Without it, a rootfs owned by host root
// shows as nobody in a user namespace, and cannot be written. It needs a
// new user namespace and a filesystem that supports idmapped mounts.
// "chown" is the fallback for filesystems without them: the runtime
// shifts the rootfs's owners into the container's range on the host,
// once and for good (it changes the bundle, so only when asked).
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
	tree, err := idmappedClone(rootfs, ns, 0, unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("idmap rootfs %q: %w", rootfs, err)
	}
	return tree, nil
}

// IdmappedView clones the one mount at dir (not the mounts beneath it)
// into a detached mount idmapped with the user namespace userns, with
// the MOUNT_ATTR_* flags in attr set as well: the front end's read-only
// views of shared image layers. Attach it with AttachTree.
func IdmappedView(dir string, userns *os.File, attr uint64) (*os.File, error) {
	return idmappedClone(dir, userns, attr, 0)
}

// idmappedClone is open_tree(OPEN_TREE_CLONE) then mount_setattr with
// MOUNT_ATTR_IDMAP; recursive is 0 or AT_RECURSIVE, for both calls.
func idmappedClone(path string, userns *os.File, attr uint64, recursive int) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|uint(recursive))
	if err != nil {
		return nil, fmt.Errorf("open_tree: %w", err)
	}
	a := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | attr, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|uint(recursive), &a); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount_setattr (does its filesystem support idmapped mounts?): %w", err)
	}
	return os.NewFile(uintptr(fd), "idmapped-tree"), nil
}

// AttachTree mounts a detached tree (open_tree(2) with OPEN_TREE_CLONE)
// on target, in the caller's mount namespace.
func AttachTree(tree *os.File, target string) error {
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach mount tree on %q: move_mount: %w", target, err)
	}
	return nil
}

// ChownShift moves the owners of every file of rootfs (on its own
// filesystem, symlinks not followed) from ids 0..size-1 to base+id,
// where the container's user namespace maps them. Files already owned
// by ids outside 0..size-1 are left alone, so a second run changes
// nothing.
func ChownShift(rootfs string, uidBase, gidBase, size uint32) error {
	var root unix.Stat_t
	if err := unix.Lstat(rootfs, &root); err != nil {
		return &os.PathError{Op: "lstat", Path: rootfs, Err: err}
	}
	return filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		uid, gid := int(st.Uid), int(st.Gid)
		if st.Uid < size {
			uid = int(uidBase + st.Uid)
		}
		if st.Gid < size {
			gid = int(gidBase + st.Gid)
		}
		if uid == int(st.Uid) && gid == int(st.Gid) {
			return nil
		}
		// lchown clears setuid/setgid bits; put them back.
		if err := unix.Lchown(p, uid, gid); err != nil {
			return &os.PathError{Op: "lchown", Path: p, Err: err}
		}
		if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 && st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := unix.Chmod(p, st.Mode&07777); err != nil {
				return &os.PathError{Op: "chmod", Path: p, Err: err}
			}
		}
		return nil
	})
}
