// Command probe is the static in-container probe of the integration
// tests: it prints, as JSON, which walls the kernel shows it (see
// internal/probe). Built with CGO_ENABLED=0 so that it runs in a rootfs
// with no libc.
//
// `probe --try SYSCALL` instead attempts one syscall with harmless
// arguments and prints "ok" or the errno's name (EPERM, EINVAL, ...), so
// that tests can tell a seccomp denial from the kernel's own answer.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/probe"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "--try" {
		os.Exit(try(os.Args[2]))
	}
	r, err := probe.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "--text" {
		r.Print(os.Stdout)
		return
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		os.Exit(1)
	}
}

// trials are syscalls with arguments that change nothing: the kernel
// answers them (success or a plain argument error) unless a filter does.
var trials = map[string]func() unix.Errno{
	// KEYCTL_GET_KEYRING_ID of the session keyring, without creating it.
	"keyctl": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0)
		return e
	},
	// Zero entries: EINVAL from the kernel.
	"io_uring_setup": func() unix.Errno {
		var params [120]byte
		_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 0, uintptr(unsafe.Pointer(&params[0])), 0)
		return e
	},
	// UFFD_USER_MODE_ONLY (allowed without privilege whatever
	// vm.unprivileged_userfaultfd says) plus an invalid flag: EINVAL from
	// the kernel.
	"userfaultfd": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_USERFAULTFD, 1|0x80000000, 0, 0)
		return e
	},
	// An unknown command: EINVAL from the kernel.
	"bpf": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_BPF, 0xffff, 0, 0)
		return e
	},
	"getpid": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
		return e
	},
}

func try(name string) int {
	f, ok := trials[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "probe: --try: unknown syscall %q\n", name)
		return 2
	}
	e := f()
	if e == 0 {
		fmt.Println("ok")
	} else {
		fmt.Println(unix.ErrnoName(e))
	}
	return 0
}
