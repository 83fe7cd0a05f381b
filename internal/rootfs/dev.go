package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultDevices are the devices every OCI container gets (runtime-spec
// "Default Devices").
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o666)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: mode(0o666)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: mode(0o666)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: mode(0o666)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o666)},
}

func mode(m os.FileMode) *os.FileMode { return &m }

// devSymlinks are the links runtime-spec asks for in /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// CreateDevices makes the default devices and the spec's extra ones under
// the root's /dev. In a user namespace mknod is refused by the kernel, so
// the host's node is bind-mounted onto an empty file instead (as runc does).
func (r *Root) CreateDevices(extra []specs.LinuxDevice, userNS bool) error {
	devs := append(append([]specs.LinuxDevice{}, DefaultDevices...), extra...)
	for _, d := range devs {
		if err := r.createDevice(d, userNS); err != nil {
			return err
		}
	}
	for _, l := range devSymlinks {
		if err := r.symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Root) symlink(oldname, dest string) error {
	parent, err := r.MkdirAll(filepath.Dir(dest), 0o755)
	if err != nil {
		return fmt.Errorf("create %q: %w", dest, err)
	}
	defer parent.Close()
	err = unix.Symlinkat(oldname, int(parent.Fd()), filepath.Base(dest))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("symlink %q -> %q: %w", dest, oldname, err)
	}
	return nil
}

func (r *Root) createDevice(d specs.LinuxDevice, userNS bool) error {
	dest := filepath.Clean("/" + d.Path)
	if filepath.Dir(dest) == "/" || dest == "/dev" {
		return fmt.Errorf("device %q: must be below a directory such as /dev", d.Path)
	}
	if userNS {
		// Bind the host node only where it really is the device asked for.
		var st unix.Stat_t
		if err := unix.Stat(d.Path, &st); err != nil {
			return fmt.Errorf("device %q: bind from host: %w", d.Path, err)
		}
		if unix.Major(st.Rdev) != uint32(d.Major) || unix.Minor(st.Rdev) != uint32(d.Minor) {
			return fmt.Errorf("device %q: host node is %d:%d, want %d:%d", d.Path,
				unix.Major(st.Rdev), unix.Minor(st.Rdev), d.Major, d.Minor)
		}
		h, err := r.CreateFile(dest)
		if err != nil {
			return fmt.Errorf("device %q: %w", d.Path, err)
		}
		defer h.Close()
		if err := unix.Mount(d.Path, fdPath(h), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("device %q: bind mount: %w", d.Path, err)
		}
		return nil
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("device %q: unknown type %q", d.Path, d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	parent, err := r.MkdirAll(filepath.Dir(dest), 0o755)
	if err != nil {
		return fmt.Errorf("device %q: %w", d.Path, err)
	}
	defer parent.Close()
	name := filepath.Base(dest)
	// Replace whatever the image had there: a device path is the
	// runtime's to define.
	_ = unix.Unlinkat(int(parent.Fd()), name, 0)
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	if err := unix.Mknodat(int(parent.Fd()), name, typ|perm, dev); err != nil {
		return fmt.Errorf("device %q: mknod: %w", d.Path, err)
	}
	// mknod is subject to the umask; set the mode asked for exactly.
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(int(parent.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("device %q: chown: %w", d.Path, err)
	}
	if err := unix.Fchmodat(int(parent.Fd()), name, perm, 0); err != nil {
		return fmt.Errorf("device %q: chmod: %w", d.Path, err)
	}
	return nil
}
