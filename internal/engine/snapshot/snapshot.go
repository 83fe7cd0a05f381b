// Package snapshot is a front-end container's root filesystem: an
// overlay whose lowers are the image's shared, read-only layers and
// whose upper and work dirs are the container's own. With a user
// namespace the lowers are idmapped views of the layers (through the
// container's id range, rootfs.IdmappedView), so image files keep their
// image owners inside the container while the layers themselves never
// change.
//
// The layout under a container's directory:
//
//	rootfs/          the overlay's mount point
//	overlay/upper/   the container's writable layer (owned by its root)
//	overlay/work/    overlayfs's work dir
//	layers/0, 1, ... idmapped views of the layers, with a user namespace
package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tirith-project/tirith/internal/rootless"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/runtime"
)

// Snapshot is the rootfs of the container whose directory is Dir.
type Snapshot struct{ Dir string }

// Rootfs is the overlay's mount point: the container's root.path.
func (s Snapshot) Rootfs() string { return filepath.Join(s.Dir, "rootfs") }

// Upper is the container's writable layer (what `diff` reads).
func (s Snapshot) Upper() string { return filepath.Join(s.Dir, "overlay", "upper") }

func (s Snapshot) work() string   { return filepath.Join(s.Dir, "overlay", "work") }
func (s Snapshot) layers() string { return filepath.Join(s.Dir, "layers") }

// Options say how the overlay is made.
type Options struct {
	// RootUID and RootGID own the upper dir, so that container root owns
	// "/": the first id of the container's range, or 0 without a user
	// namespace.
	RootUID, RootGID int
	// NoSuid mounts the overlay nosuid (when no_new_privs is on anyway,
	// so the mount says the same).
	NoSuid bool
	// IDBase and IDs are the container's host id range: when IDs is not
	// 0 the lowers are idmapped views mapping image id N to IDBase+N.
	IDBase, IDs uint32
}

// Mount makes the upper and work dirs and mounts the overlay of lowers
// (topmost first) on Rootfs. On error what is mounted stays for Unmount.
func (s Snapshot) Mount(lowers []string, o Options) error {
	for _, d := range []string{filepath.Join(s.Dir, "overlay"), s.Upper(), s.work()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("overlay dirs: %w", err)
		}
	}
	if err := os.Chmod(s.Upper(), 0o755); err != nil {
		return err
	}
	if err := os.Chown(s.Upper(), o.RootUID, o.RootGID); err != nil {
		return fmt.Errorf("overlay upper dir: %w", err)
	}
	if err := os.Mkdir(s.Rootfs(), 0o755); err != nil {
		return fmt.Errorf("rootfs mountpoint: %w", err)
	}
	if o.IDs != 0 {
		// The layers seen through the container's id range: image
		// owners show as the container's own users.
		var err error
		if lowers, err = idmapLayers(lowers, s.layers(), o.IDBase, o.IDs); err != nil {
			return err
		}
		runtime.CrashPoint("after-idmapped-layers")
	}
	// The new mount API: each lower is its own fsconfig call, so the
	// number of layers is not limited by mount(2)'s one-page data.
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("mount overlay: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("mount overlay: %s=%s: %w", k, v, err)
		}
		return nil
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if err := set("upperdir", s.Upper()); err != nil {
		return err
	}
	if err := set("workdir", s.work()); err != nil {
		return err
	}
	if rootless.Inside() {
		// Outside the initial user namespace overlayfs may not use
		// trusted.* xattrs; the store's layers carry user.* ones.
		if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
			return fmt.Errorf("mount overlay: userxattr: %w", err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		if rootless.Inside() && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)) {
			// No fuse-overlayfs or copy fallback: say what is missing.
			return fmt.Errorf("mount overlay: create: %w (rootless containers need overlayfs in a user namespace: Linux 5.11 or later)", err)
		}
		return fmt.Errorf("mount overlay: create: %w", err)
	}
	// nodev: devices come from the runtime's /dev only.
	attr := unix.MOUNT_ATTR_NODEV
	if o.NoSuid {
		attr |= unix.MOUNT_ATTR_NOSUID
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mount overlay: fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, s.Rootfs(), unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", s.Rootfs(), err)
	}
	return nil
}

// Unmount detaches the overlay and the idmapped layer views (whatever
// of them is mounted): the directories stay for the caller to remove.
func (s Snapshot) Unmount() error {
	if err := Unmount(s.Rootfs()); err != nil {
		return err
	}
	unmountLayers(s.layers())
	return nil
}

// idmapLayers attaches an idmapped view of each layer dir under dir
// (dir/0, dir/1, ...), mapped through a user namespace whose root is
// host uid base: a file owned by image uid N shows as host uid base+N,
// which is container uid N. The layers themselves stay shared and
// untouched. Only the runtime (host root) can make such mounts.
func idmapLayers(layers []string, dir string, base, size uint32) (paths []string, err error) {
	userns, err := newUserns(base, size)
	if err != nil {
		return nil, err
	}
	defer userns.Close()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unmountLayers(dir)
		}
	}()
	// nosuid: the layers' setuid binaries take effect, if at all,
	// through the container's overlay, whose own flags decide; these
	// mounts are only its lowers.
	const attr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID
	for i, l := range layers {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(p, 0o755); err != nil {
			return nil, err
		}
		view, err := rootfs.IdmappedView(l, userns, attr)
		if err == nil {
			err = rootfs.AttachTree(view, p)
			view.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("idmap layer %s: %w", l, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// unmountLayers detaches the idmapped layers under dir.
func unmountLayers(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = Unmount(filepath.Join(dir, e.Name()))
	}
}

// Unmount detaches a mount if there is one at p (every mount stacked
// there, up to a bound).
func Unmount(p string) error {
	for range 8 {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not (or no longer) a mount point
		}
		if err != nil {
			return &fs.PathError{Op: "umount", Path: p, Err: err}
		}
	}
	return nil
}
