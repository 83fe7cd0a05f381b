// Command goprog is a test program for the static analysis: it makes a
// few syscalls, two of them distinctive (personality through
// unix.Syscall, and mount), and reports what it saw.
package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	// personality(0xffffffff) only queries the persona.
	p, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if errno != 0 {
		fmt.Println("personality:", errno)
		os.Exit(1)
	}
	// Without CAP_SYS_ADMIN this fails with EPERM, from the kernel or the
	// filter; either is fine: the call is what the analysis must see.
	err := unix.Mount("none", "/nonexistent", "tmpfs", 0, "")
	fmt.Printf("pid %d personality %#x mount %v\n", syscall.Getpid(), p, err != nil)
}
