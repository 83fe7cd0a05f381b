package initproc

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// setupConsole makes a pty inside the container, hands its master to the
// console socket (SCM_RIGHTS, as runc does, so containerd and podman can
// use it), and makes the slave our stdio and controlling terminal. For a
// new container the slave is also bind-mounted on /dev/console.
func setupConsole(sockFD int, size *specs.Box, devConsole bool) error {
	if sockFD < 0 {
		return fmt.Errorf("process.terminal is set but no console socket was given (use --console-socket)")
	}
	sock := os.NewFile(uintptr(sockFD), "console-socket")
	defer sock.Close()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("console: open /dev/ptmx: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("console: unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, without a path
	// lookup that a planted /dev/pts entry could redirect.
	// The ioctl's argument is the slave's open flags: read-write, or
	// the payload's stdout would be read-only.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fmt.Errorf("console: open pty slave: %w", errno)
	}
	sfd := int(r)
	slave := os.NewFile(uintptr(sfd), "pty-slave")
	defer slave.Close()
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(sfd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("console: set size: %w", err)
		}
	}
	if devConsole {
		if err := bindConsole(sfd); err != nil {
			return err
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(sockFD, []byte("/dev/ptmx"), rights, nil, 0); err != nil {
		return fmt.Errorf("console: send pty master: %w", err)
	}
	if _, err := unix.Setsid(); err != nil {
		return os.NewSyscallError("setsid", err)
	}
	if err := unix.IoctlSetInt(sfd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("console: set controlling terminal: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(sfd, i, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	return nil
}

// bindConsole mounts the pty slave on /dev/console, replacing whatever the
// image had there, and refusing to follow a planted symlink.
func bindConsole(slaveFD int) error {
	_ = unix.Unlink("/dev/console")
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("console: create /dev/console: %w", err)
	}
	defer unix.Close(fd)
	src := procfs.SelfFD(slaveFD)
	dst := procfs.SelfFD(fd)
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("console: bind mount /dev/console: %w", err)
	}
	return nil
}
