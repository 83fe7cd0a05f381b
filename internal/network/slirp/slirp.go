// Package slirp gives a rootless container's network namespace a way
// out with slirp4netns (Debian's slirp4netns): user-mode TCP/IP, the
// container at 10.0.2.100 behind NAT, DNS forwarded at 10.0.2.3, and
// the host's own loopback services out of reach (--disable-host-loopback).
// It needs no privilege beyond the user namespace that owns the
// network namespace, which the rootless front end's process holds.
package slirp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// Package names what provides slirp4netns, for errors.
const Package = "slirp4netns"

// Address, Gateway and DNS are what slirp4netns --configure sets up.
const (
	Address = "10.0.2.100"
	Gateway = "10.0.2.2"
	DNS     = "10.0.2.3"
)

// Usable says why slirp4netns cannot run here for this user, if so: not
// installed, or /dev/net/tun closed to it (Debian's udev makes it 0666).
func Usable() error {
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		return fmt.Errorf("slirp4netns is not installed (apt-get install %s)", Package)
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("slirp4netns cannot open /dev/net/tun: %w", err)
	}
	return f.Close()
}

// Start attaches slirp4netns to the network namespace pinned at nsPath
// (as tap0, configured) and records it in pidFile ("PID STARTTIME"). It
// runs in a session of its own, outliving the caller, until Stop.
func Start(nsPath, pidFile string) error {
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return fmt.Errorf("rootless networking needs slirp4netns: install Debian's %s (apt-get install %s), or use --network none", Package, Package)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(bin, "--configure", "--mtu=65520", "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--netns-type=path", "--ready-fd=3", nsPath, "tap0")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start slirp4netns: %w", err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := r.Read(b)
		if err == nil && b[0] != '1' {
			err = fmt.Errorf("ready fd said %q", b)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case err = <-exited:
		err = fmt.Errorf("exited: %v", err)
	case <-time.After(10 * time.Second):
		err = errors.New("not ready after 10s")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("slirp4netns for %s: %w: %s", nsPath, err, strings.TrimSpace(stderr.String()))
	}
	stamp, err := procfs.PidStamp(cmd.Process.Pid)
	if err == nil {
		err = os.WriteFile(pidFile, stamp, 0o600)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	return nil
}

// Stop ends the slirp4netns recorded in pidFile, if it still runs, and
// removes the file. A missing file is not an error.
func Stop(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// Only the process recorded: a recycled pid is left alone.
	if pid := procfs.StampedPid(b); pid > 0 {
		if err := unix.Kill(pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("stop slirp4netns %d: %w", pid, err)
		}
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
