package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// Root is an open handle on the rootfs directory; every lookup below it
// goes through pathrs so that it cannot escape.
type Root struct {
	Path string
	dir  *os.File
}

// OpenRoot opens the current directory, the rootfs mount Prepare left us
// in, as the root for safe lookups. path, the rootfs's host path, only
// names it in errors: it is not looked up.
func OpenRoot(path string) (*Root, error) {
	fd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %q: %w", path, os.NewSyscallError("open", err))
	}
	return &Root{Path: path, dir: os.NewFile(uintptr(fd), path)}, nil
}

// Close releases the root handle.
func (r *Root) Close() error { return r.dir.Close() }

// fdPath names an O_PATH handle for the mount(2) family: the kernel follows
// the magic link to exactly the object we resolved, with no second lookup.
func fdPath(f *os.File) string { return procfs.SelfFD(int(f.Fd())) }

// inRoot resolves a path as if the root were "/": ".." and absolute
// symlinks are clamped to it, and no /proc magic link is followed. The
// kernel enforces it for the whole walk (openat2(2), Linux 5.6).
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot is openat2 below the root with inRoot, or ENOSYS.
func (r *Root) openInRoot(dest string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(int(r.dir.Fd()), dest, &how)
		// EAGAIN: a rename or mount raced the walk; the kernel asks
		// for a retry rather than risk a wrong answer. Bounded, so
		// that a process renaming in a loop cannot stall the init.
		if err != unix.EAGAIN && err != unix.EINTR || try == 64 {
			return fd, err
		}
	}
}

// Open resolves dest inside the root and returns an O_PATH handle: one
// openat2 (pathrs-lite where the kernel has none).
func (r *Root) Open(dest string) (*os.File, error) {
	fd, err := r.openInRoot(dest, unix.O_PATH)
	if errors.Is(err, unix.ENOSYS) {
		return pathrs.OpenatInRoot(r.dir, dest)
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: dest, Err: err}
	}
	return os.NewFile(uintptr(fd), dest), nil
}

// MkdirAll creates dest (and parents) inside the root and returns a handle.
// Each missing directory is made with mkdirat in its parent, itself
// resolved from the root with inRoot, and looked up again the same way:
// whatever is swapped in meanwhile (a symlink to the host's /etc, say)
// still resolves inside the root. A few syscalls a level, where
// pathrs-lite's userspace walk takes dozens; pathrs-lite without openat2.
func (r *Root) MkdirAll(dest string, mode os.FileMode) (*os.File, error) {
	fd, err := r.openInRoot(dest, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOSYS) {
		return pathrs.MkdirAllHandle(r.dir, dest, mode)
	}
	if err == nil {
		return os.NewFile(uintptr(fd), dest), nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return nil, &os.PathError{Op: "openat2", Path: dest, Err: err}
	}
	parent := -1
	defer func() {
		if parent >= 0 {
			unix.Close(parent)
		}
	}()
	prefix := ""
	for _, comp := range strings.Split(strings.Trim(filepath.Clean("/"+dest), "/"), "/") {
		prefix += "/" + comp
		fd, err := r.openInRoot(prefix, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			dir := parent
			if dir < 0 {
				dir = int(r.dir.Fd())
			}
			merr := unix.Mkdirat(dir, comp, uint32(mode.Perm()))
			if merr != nil && !errors.Is(merr, unix.EEXIST) {
				return nil, &os.PathError{Op: "mkdirat", Path: prefix, Err: merr}
			}
			fd, err = r.openInRoot(prefix, unix.O_PATH|unix.O_DIRECTORY)
			if merr != nil && errors.Is(err, unix.ENOENT) {
				// Something exists there that leads nowhere: a
				// dangling symlink. Not followed to create its
				// target (as pathrs-lite refuses it too).
				err = unix.ENOTDIR
			}
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: prefix, Err: err}
		}
		if parent >= 0 {
			unix.Close(parent)
		}
		parent = fd
	}
	f := os.NewFile(uintptr(parent), dest)
	parent = -1
	return f, nil
}

// mountTarget is MkdirAll or CreateFile for the target of a mount, refusing
// one that resolves (through the image's symlinks) to the root itself: a
// mount there would sit on top of the rootfs mount that pivot_root takes
// as the new root (see Prepare), hidden rather than covering it.
func (r *Root) mountTarget(dest string, dir bool) (*os.File, error) {
	var h *os.File
	var err error
	if dir {
		h, err = r.MkdirAll(dest, 0o755)
	} else {
		h, err = r.CreateFile(dest)
	}
	if err != nil {
		return nil, err
	}
	var st, root unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		h.Close()
		return nil, os.NewSyscallError("fstat", err)
	}
	if err := unix.Fstat(int(r.dir.Fd()), &root); err != nil {
		h.Close()
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Dev == root.Dev && st.Ino == root.Ino {
		h.Close()
		return nil, errors.New("resolves to the root itself")
	}
	return h, nil
}

// CreateFile makes sure dest exists as a non-directory inside the root (a
// target for a file bind mount) and returns a handle on it.
func (r *Root) CreateFile(dest string) (*os.File, error) {
	if h, err := r.Open(dest); err == nil {
		return h, nil
	}
	parent, err := r.MkdirAll(filepath.Dir(filepath.Clean("/"+dest)), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "create", Path: dest, Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	return r.Open(dest)
}

// MountContext is what a mount needs besides its spec entry.
type MountContext struct {
	// CgroupPaths maps each cgroup controller (v1) or "" (unified) to the
	// container's cgroup directory on the host.
	CgroupPaths map[string]string
	CgroupNS    bool // the container has its own cgroup namespace
	UserNS      bool // the container has its own user namespace
	MountLabel  string
}

// Op is one config.json mount, its options parsed: a step of the
// container's plan.
type Op struct {
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	Type        string `json:"type,omitempty"`
	// Options are config.json's, as given; Parsed is what they mean.
	Options []string `json:"options,omitempty"`
	Parsed  Options  `json:"parsed"`
}

// OpOf parses a config.json mount.
func OpOf(m specs.Mount) Op {
	return Op{Source: m.Source, Destination: m.Destination, Type: m.Type, Options: m.Options, Parsed: ParseOptions(m.Options)}
}

// Mount performs one config.json mount inside the root. tree, for a bind
// mount, is its source cloned by the runtime (CloneSource): attached
// as it is, m.Source is not looked up, so a source the container's
// user-namespaced root cannot reach still works. Preconditions: we are
// in the container's mount namespace, before pivot_root.
func (r *Root) Mount(m Op, mc MountContext, tree *os.File) error {
	o := m.Parsed
	dest := filepath.Clean("/" + m.Destination)
	if dest == "/" {
		return fmt.Errorf("mount %q: destination cannot be the root itself", m.Destination)
	}
	// Checked by spec validation too; here again, and below on where the
	// destination resolves, since symlinks in the rootfs may lead into
	// /proc.
	if err := CheckProcDestination(dest, m.Type, o.Bind); err != nil {
		return fmt.Errorf("mount on %q: %w", dest, err)
	}
	switch {
	case o.Bind:
		return r.bindMount(m, o, dest, tree)
	case m.Type == "cgroup":
		return r.mountCgroup(dest, o, mc)
	}
	target, err := r.mountTarget(dest, true)
	if err != nil {
		return fmt.Errorf("mount %s on %q: create target: %w", m.Type, dest, err)
	}
	defer target.Close()
	if _, err := r.checkTarget(dest, target, m.Type, false); err != nil {
		return err
	}
	data := o.Data
	if mc.MountLabel != "" && m.Type != "proc" && m.Type != "sysfs" && m.Type != "mqueue" {
		data = joinData(data, fmt.Sprintf("context=%q", mc.MountLabel))
	}
	flags := o.Flags
	if o.CopyUp {
		flags &^= unix.MS_RDONLY // filled first, then made read-only
	}
	err = unix.Mount(m.Source, fdPath(target), m.Type, flags, data)
	if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) && mc.UserNS {
		// sysfs can only be mounted by a user namespace that owns the
		// network namespace; fall back to the host's /sys, read-only.
		err = unix.Mount("/sys", fdPath(target), "", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			err = r.remount(dest, o.Flags|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
		}
	}
	if err != nil {
		return fmt.Errorf("mount %s %q on %q: %w", m.Type, m.Source, dest, err)
	}
	if o.CopyUp && m.Type == "tmpfs" {
		// target still names the image's directory beneath the new
		// tmpfs; a fresh lookup lands on the tmpfs.
		fresh, err := r.Open(dest)
		if err != nil {
			return fmt.Errorf("mount tmpfs on %q: %w", dest, err)
		}
		err = copyUp(target, fresh)
		fresh.Close()
		if err != nil {
			return fmt.Errorf("mount tmpfs on %q: %w", dest, err)
		}
		if o.Flags&unix.MS_RDONLY != 0 {
			if err := r.remount(dest, o.Flags); err != nil {
				return err
			}
		}
	}
	return r.propagate(dest, o)
}

func joinData(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// IsBind reports whether m is a bind mount (its source is a path).
func (m Op) IsBind() bool { return m.Parsed.Bind }

// CloneSource clones the source of bind mount m (recursively for rbind)
// into a detached tree that Mount attaches in the container. The runtime
// calls it, as host root, in the container's mount namespace: the clone
// is what the container's own bind mount would have been (same
// propagation, same mount flags and submounts locked by the user
// namespace), only looked up with the runtime's privileges.
func CloneSource(m Op) (*os.File, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if m.Parsed.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, uint(flags))
	if err != nil {
		return nil, fmt.Errorf("bind mount %q on %q: %w", m.Source, m.Destination, &os.PathError{Op: "open_tree", Path: m.Source, Err: err})
	}
	return os.NewFile(uintptr(fd), m.Source), nil
}

func (r *Root) bindMount(m Op, o Options, dest string, tree *os.File) error {
	var st unix.Stat_t
	var err error
	if tree != nil {
		err = unix.Fstat(int(tree.Fd()), &st)
	} else {
		err = unix.Stat(m.Source, &st)
	}
	if err != nil {
		return fmt.Errorf("bind mount %q on %q: %w", m.Source, dest, &os.PathError{Op: "stat", Path: m.Source, Err: err})
	}
	target, err := r.mountTarget(dest, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return fmt.Errorf("bind mount %q on %q: create target: %w", m.Source, dest, err)
	}
	defer target.Close()
	resolved, err := r.checkTarget(dest, target, m.Type, true)
	if err != nil {
		return err
	}
	if resolved == "/proc" {
		if err := checkProcSource(m.Source); err != nil {
			return err
		}
	}
	if tree != nil {
		err = unix.MoveMount(int(tree.Fd()), "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	} else {
		flags := uintptr(unix.MS_BIND)
		if o.Recursive {
			flags |= unix.MS_REC
		}
		err = unix.Mount(m.Source, fdPath(target), "", flags, "")
	}
	if err != nil {
		return fmt.Errorf("bind mount %q on %q: %w", m.Source, dest, err)
	}
	// A bind mount ignores every flag but MS_BIND|MS_REC: ro, nosuid and
	// friends need a remount.
	if o.Flags&^unix.MS_REMOUNT != 0 || o.ClearFlags != 0 {
		if err := r.remount(dest, o.Flags); err != nil {
			return fmt.Errorf("bind mount %q on %q: %w", m.Source, dest, err)
		}
	}
	return r.propagate(dest, o)
}

// remount applies flags to the mount at dest, keeping the flags the kernel
// locks on mounts inherited from a more privileged namespace (a remount
// that drops them fails with EPERM).
func (r *Root) remount(dest string, flags uintptr) error {
	h, err := r.Open(dest)
	if err != nil {
		return err
	}
	defer h.Close()
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(h.Fd()), &sfs); err != nil {
		return os.NewSyscallError("fstatfs", err)
	}
	locked := uintptr(sfs.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY |
		unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	flags |= unix.MS_BIND | unix.MS_REMOUNT
	if err := unix.Mount("", fdPath(h), "", flags|locked&^unix.MS_RDONLY, ""); err != nil {
		// Retry keeping every locked flag, read-only included.
		if err2 := unix.Mount("", fdPath(h), "", flags|locked, ""); err2 != nil {
			return fmt.Errorf("remount %q: %w", dest, err)
		}
	}
	return nil
}

func (r *Root) propagate(dest string, o Options) error {
	if len(o.Propagation) == 0 {
		return nil
	}
	h, err := r.Open(dest)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, p := range o.Propagation {
		if err := unix.Mount("", fdPath(h), "", p, ""); err != nil {
			return fmt.Errorf("set propagation of %q: %w", dest, err)
		}
	}
	return nil
}

// mountCgroup gives the container its cgroups at dest. With a cgroup
// namespace on a pure v2 host it mounts a fresh cgroup2 (rooted at the
// container's cgroup). Otherwise it mounts a tmpfs and bind-mounts the
// container's own directory of each hierarchy, so the container never
// sees its neighbours' or the host's cgroups.
func (r *Root) mountCgroup(dest string, o Options, mc MountContext) error {
	flags := o.Flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	target, err := r.mountTarget(dest, true)
	if err != nil {
		return fmt.Errorf("mount cgroup on %q: %w", dest, err)
	}
	defer target.Close()
	if _, err := r.checkTarget(dest, target, "cgroup", false); err != nil {
		return err
	}
	if unified, ok := mc.CgroupPaths[""]; ok && len(mc.CgroupPaths) == 1 {
		if mc.CgroupNS {
			if err := unix.Mount("cgroup2", fdPath(target), "cgroup2", flags, ""); err != nil {
				return fmt.Errorf("mount cgroup2 on %q: %w", dest, err)
			}
			return nil
		}
		if err := unix.Mount(unified, fdPath(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind cgroup %q on %q: %w", unified, dest, err)
		}
		return r.remount(dest, flags)
	}
	if err := unix.Mount("tmpfs", fdPath(target), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return fmt.Errorf("mount cgroup tmpfs on %q: %w", dest, err)
	}
	for ctrl, hostPath := range mc.CgroupPaths {
		name := ctrl
		if name == "" {
			name = "unified"
		}
		// The hierarchy's mount point names it on the host ("cpu",
		// "name=systemd" -> "systemd"); mirror that name.
		name = strings.TrimPrefix(name, "name=")
		sub := filepath.Join(dest, name)
		h, err := r.MkdirAll(sub, 0o755)
		if err != nil {
			return fmt.Errorf("mount cgroup %q: %w", sub, err)
		}
		err = unix.Mount(hostPath, fdPath(h), "", unix.MS_BIND|unix.MS_REC, "")
		h.Close()
		if err != nil {
			return fmt.Errorf("bind cgroup %q on %q: %w", hostPath, sub, err)
		}
		if err := r.remount(sub, flags); err != nil {
			return err
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return r.remount(dest, flags)
	}
	return nil
}
