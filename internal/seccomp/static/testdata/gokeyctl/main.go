// Command gokeyctl makes two syscalls goprog never makes, keyctl and
// ptrace, and prints each one's errno ("ok" when it succeeded), so that a
// test can see a profile generated for goprog refuse them.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	fmt.Println("keyctl", errText(err))
	err = unix.PtraceAttach(os.Getppid())
	fmt.Println("ptrace", errText(err))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(unix.Errno); ok {
		return unix.ErrnoName(e)
	}
	return err.Error()
}
