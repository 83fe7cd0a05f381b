package network

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LoopbackAnnotation set to "up" makes the container's init bring lo up
// in the container's network namespace before the payload starts.
const LoopbackAnnotation = "io.github.tirith.loopback"

// LoopbackUp sets IFF_UP on lo in the caller's network namespace. The
// kernel then adds 127.0.0.1/8 and ::1 to it by itself. It needs
// CAP_NET_ADMIN over that namespace (root of the user namespace that owns
// it).
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: get flags: %w", os.NewSyscallError("ioctl", err))
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", os.NewSyscallError("ioctl", err))
	}
	return nil
}
