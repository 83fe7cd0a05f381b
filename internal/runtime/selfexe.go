package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// sealedExe is the running tirith binary on a detached read-only mount
// (or, on kernels without mount_setattr, a sealed memfd copy), held by
// an fd of this process. The container's init is started through path,
// so /proc/PID/exe of anything that runs the runtime binary inside a
// container (the init itself, or a payload whose interpreter is
// /proc/self/exe) names a read-only file: reopening it for writing fails
// with EROFS, and the host binary cannot be overwritten (CVE-2019-5736).
//
// The mount is in no mount namespace: nothing appears on the host, and
// it goes away by itself when the last process started from it exits.
type sealedExe struct {
	f    *os.File // O_PATH, close-on-exec: it never reaches a container
	path string   // /proc/<our pid>/fd/<fd>, for exec.Cmd
}

// sealExe seals the running binary. It costs an open_tree and a
// mount_setattr (microseconds, see BENCHMARKS.md); the memfd fallback
// copies the binary (milliseconds).
func sealExe() (*sealedExe, error) {
	f, err := sealedMount()
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || (errors.Is(err, unix.EINVAL) && Rootless()) {
		// No mount API (before 5.12), or not allowed to clone a mount
		// (an unprivileged caller; EINVAL for root of a user namespace
		// whose mount namespace does not own the binary's mount):
		// the sealed copy.
		f, err = sealedCopy()
	}
	if err != nil {
		return nil, fmt.Errorf("seal runtime binary: %w", err)
	}
	// Not /proc/self/fd: between fork and execve the child moves the
	// fds it passes down into place, and one may land on this number.
	// Our own fd table does not change while we hold f.
	return &sealedExe{f: f, path: procfs.PidFD(os.Getpid(), int(f.Fd()))}, nil
}

// Close drops our hold on the seal; processes started from it keep it.
func (s *sealedExe) Close() { s.f.Close() }

// sealedMount clones the mount of the running binary as a detached bind
// mount of that one file and makes it read-only. A detached mount cannot
// be made writable again by anyone without its fd.
func sealedMount() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, procfs.SelfExe, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("open_tree /proc/self/exe", err)
	}
	f := os.NewFile(uintptr(fd), "sealed-runtime")
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		f.Close()
		return nil, os.NewSyscallError("mount_setattr", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fstatfs", err)
	}
	if sfs.Flags&unix.ST_RDONLY == 0 {
		f.Close()
		return nil, errors.New("the detached mount of the runtime binary is not read-only")
	}
	return f, nil
}

// sealedCopy copies the running binary into a memfd sealed against any
// change, for kernels older than 5.12.
func sealedCopy() (*os.File, error) {
	self, err := os.Open(procfs.SelfExe)
	if err != nil {
		return nil, err
	}
	defer self.Close()
	fd, err := unix.MemfdCreate("tirith", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "sealed-runtime")
	if _, err := io.Copy(f, self); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy into memfd: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return f, nil
}

// legacySealDir is where Tirith before the detached seal kept a
// read-only bind mount of its binary, for ever.
const legacySealDir = ".exe"

// dropLegacySeals detaches and removes those mounts: they pin the state
// root (rm -rf fails with EBUSY) and count as leaked mounts. An init
// still running from one (a container created by the old version, not
// yet started) keeps it until it exits: MNT_DETACH is lazy. Costs one
// failed open when there is nothing to drop.
func dropLegacySeals(root string) {
	dir := filepath.Join(root, legacySealDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "tirith-") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// Two racing old creates could have stacked two mounts.
		for i := 0; i < 8 && unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW) == nil; i++ {
		}
		_ = os.Remove(p)
	}
	_ = os.Remove(dir)
}
