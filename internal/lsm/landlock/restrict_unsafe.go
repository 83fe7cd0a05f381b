package landlock

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ABI returns the kernel's Landlock ABI version, 0 if Landlock is absent
// or disabled.
func ABI() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}

// fsRights returns the filesystem rights the given ABI knows.
func fsRights(abi int) uint64 {
	r := uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM)
	if abi >= 2 {
		r |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		r |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		r |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return r
}

const (
	readOnlyRights = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	executeRights  = readOnlyRights | unix.LANDLOCK_ACCESS_FS_EXECUTE
	// No EXECUTE and no device nodes: writable places hold data only.
	readWriteRights = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_SYM | unix.LANDLOCK_ACCESS_FS_REFER |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	// Rights that make sense on a non-directory.
	fileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
)

// Applied says what Restrict could enforce on this kernel.
type Applied struct {
	ABI     int      `json:"abi"`
	FS      bool     `json:"fs"`
	Net     bool     `json:"net"`
	Scoped  []string `json:"scoped,omitempty"`
	Skipped []string `json:"skipped,omitempty"` // listed paths that do not exist
}

// ErrUnsupported: the kernel has no Landlock.
var ErrUnsupported = errors.New("landlock is not supported by this kernel (or disabled)")

// Restrict enforces p on the calling thread and its future children.
// Preconditions: the thread has no_new_privs set, or CAP_SYS_ADMIN; the
// caller holds its OS thread and execs from it.
func (p *Policy) Restrict() (*Applied, error) {
	fd, a, err := p.Ruleset()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(fd), 0, 0); e != 0 {
		return nil, fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return a, nil
}

// Ruleset builds p's ruleset without enforcing it: the caller passes the
// fd to landlock_restrict_self(2) (the lean init does, after an execve
// that the ruleset would refuse) and closes it. The fd is close-on-exec.
func (p *Policy) Ruleset() (int, *Applied, error) {
	abi := ABI()
	if abi == 0 {
		return -1, nil, ErrUnsupported
	}
	a := &Applied{ABI: abi, FS: true}
	handledFS := fsRights(abi)
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handledFS}
	size := unsafe.Sizeof(attr.Handled_access_fs)
	if p.netHandled && abi >= 4 {
		attr.Handled_access_net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
		size = unsafe.Offsetof(attr.Scoped)
		a.Net = true
	}
	if len(p.Scope) > 0 && abi >= 6 {
		for _, s := range p.Scope {
			attr.Scoped |= scopes[s]
			a.Scoped = append(a.Scoped, s)
		}
		sort.Strings(a.Scoped)
		size = unsafe.Offsetof(attr.Quiet_access_fs)
	} else if a.Net {
		size = unsafe.Offsetof(attr.Scoped)
	}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return -1, nil, fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	a, err := p.addRules(int(fd), a, handledFS)
	if err != nil {
		unix.Close(int(fd))
		return -1, nil, err
	}
	return int(fd), a, nil
}

// addRules adds p's rules to the ruleset at fd.
func (p *Policy) addRules(fd int, a *Applied, handledFS uint64) (*Applied, error) {
	for _, list := range []struct {
		paths  []string
		rights uint64
	}{{p.ReadOnly, readOnlyRights}, {p.ReadWrite, readWriteRights}} {
		for _, path := range list.paths {
			ok, err := addPath(fd, path, list.rights&handledFS)
			if err != nil {
				return nil, err
			}
			if !ok {
				a.Skipped = append(a.Skipped, path)
			}
		}
	}
	// Execute paths minus noExecute: one rule per object the walk hands
	// back, on the very inode it opened.
	skipped, err := walkExecute(p.Execute, p.NoExecute, func(objFD int, path string, dir, exec bool) error {
		rights := uint64(readOnlyRights)
		if exec {
			rights = executeRights
		}
		return addRule(fd, objFD, path, dir, rights&handledFS)
	})
	if err != nil {
		return nil, err
	}
	a.Skipped = append(a.Skipped, skipped...)
	if a.Net {
		for _, r := range []struct {
			ports  []uint16
			access uint64
		}{{p.BindTCP, unix.LANDLOCK_ACCESS_NET_BIND_TCP}, {p.ConnectTCP, unix.LANDLOCK_ACCESS_NET_CONNECT_TCP}} {
			for _, port := range r.ports {
				attr := netPortAttr{allowedAccess: r.access, port: uint64(port)}
				if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(fd), landlockRuleNetPort, uintptr(unsafe.Pointer(&attr)), 0, 0, 0); e != 0 {
					return nil, fmt.Errorf("landlock: allow tcp port %d: %w", port, e)
				}
			}
		}
	}
	return a, nil
}

const landlockRuleNetPort = 2

// netPortAttr is struct landlock_net_port_attr.
type netPortAttr struct {
	allowedAccess uint64
	port          uint64
}

// addPath allows rights beneath path. A path that does not exist in this
// rootfs is skipped (false): an image may lack /srv, and that grants
// nothing.
func addPath(rulesetFD int, path string, rights uint64) (bool, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "landlock: open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, &os.PathError{Op: "landlock: stat", Path: path, Err: err}
	}
	if err := addRule(rulesetFD, fd, path, st.Mode&unix.S_IFMT == unix.S_IFDIR, rights); err != nil {
		return false, err
	}
	return true, nil
}

// addRule allows rights beneath the object open at fd. The kernel
// refuses directory-only rights on anything else, so a file's rule keeps
// only those that apply to a file.
func addRule(rulesetFD, fd int, path string, dir bool, rights uint64) error {
	if !dir {
		rights &= fileRights
	}
	attr := unix.LandlockPathBeneathAttr{Allowed_access: rights, Parent_fd: int32(fd)}
	if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rulesetFD), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&attr)), 0, 0, 0); e != 0 {
		return &os.PathError{Op: "landlock: add rule", Path: path, Err: e}
	}
	return nil
}
