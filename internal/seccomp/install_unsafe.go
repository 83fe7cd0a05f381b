package seccomp

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompSetModeFilter calls seccomp(SECCOMP_SET_MODE_FILTER, flags, prog).
func seccompSetModeFilter(filter []unix.SockFilter, flags uint) (int, error) {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return -1, os.NewSyscallError("seccomp", errno)
	}
	return int(r), nil
}

// seccompData is struct seccomp_data from <linux/seccomp.h>.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// notif is struct seccomp_notif.
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifRecv waits for a notification on a listener fd
// (SECCOMP_IOCTL_NOTIF_RECV). The runtime hands the fd to an agent; this
// is here for tests and tools.
func notifRecv(fd int) (*notif, error) {
	var n notif // the kernel requires it zeroed
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_RECV", errno)
		}
		return &n, nil
	}
}

// notifSend answers a notification (SECCOMP_IOCTL_NOTIF_SEND).
func notifSend(fd int, r *notifResp) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(r)))
	if errno != 0 {
		return os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_SEND", errno)
	}
	return nil
}
