package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp copies the tree under src (the image's directory, now covered by
// a fresh tmpfs) into dst (that tmpfs): the "tmpcopyup" option of runc and
// crun, which podman uses so that a tmpfs on /run or /var/lib/x still holds
// what the image put there (/run/postgresql owned by postgres, say).
// Directories, regular files and symlinks keep their mode and owner;
// device nodes, sockets and fifos are left out (a tmpfs is nodev anyway).
// Every name is opened relative to its parent's fd with O_NOFOLLOW, so
// nothing outside src is read and nothing outside dst is written.
func copyUp(src, dst *os.File) error {
	ents, err := readDirFd(src)
	if err != nil {
		return err
	}
	for _, name := range ents {
		if err := copyEntry(src, dst, name); err != nil {
			return fmt.Errorf("tmpcopyup %s: %w", name, err)
		}
	}
	return nil
}

func readDirFd(dir *os.File) ([]string, error) {
	// A second open of "." gives a directory stream of its own.
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: ".", Err: err}
	}
	f := os.NewFile(uintptr(fd), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

func copyEntry(src, dst *os.File, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(src.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return os.NewSyscallError("fstatat", err)
	}
	perm := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(int(dst.Fd()), name, perm); err != nil {
			return os.NewSyscallError("mkdirat", err)
		}
		if err := chown(dst, name, &st); err != nil {
			return err
		}
		// mkdir applied the umask: set the image's mode exactly.
		if err := unix.Fchmodat(int(dst.Fd()), name, perm, 0); err != nil {
			return os.NewSyscallError("fchmodat", err)
		}
		s, err := openDir(src, name)
		if err != nil {
			return err
		}
		defer s.Close()
		d, err := openDir(dst, name)
		if err != nil {
			return err
		}
		defer d.Close()
		return copyUp(s, d)
	case unix.S_IFREG:
		in, err := unix.Openat(int(src.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("openat", err)
		}
		inf := os.NewFile(uintptr(in), name)
		defer inf.Close()
		out, err := unix.Openat(int(dst.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return os.NewSyscallError("openat", err)
		}
		outf := os.NewFile(uintptr(out), name)
		defer outf.Close()
		if _, err := io.Copy(outf, inf); err != nil {
			return err
		}
		if err := unix.Fchown(out, int(st.Uid), int(st.Gid)); err != nil {
			return os.NewSyscallError("fchown", err)
		}
		// After the chown, which clears setuid bits.
		return os.NewSyscallError("fchmod", unix.Fchmod(out, perm))
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(int(src.Fd()), name, buf)
		if err != nil {
			return os.NewSyscallError("readlinkat", err)
		}
		if err := unix.Symlinkat(string(buf[:n]), int(dst.Fd()), name); err != nil {
			return os.NewSyscallError("symlinkat", err)
		}
		return chown(dst, name, &st)
	}
	return nil
}

func openDir(parent *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func chown(dir *os.File, name string, st *unix.Stat_t) error {
	err := unix.Fchownat(int(dir.Fd()), name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOVERFLOW) {
		// An owner not mapped into our user namespace: keep ours.
		return nil
	}
	return os.NewSyscallError("fchownat", err)
}
