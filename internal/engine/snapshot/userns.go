package snapshot

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/tirith-project/tirith/internal/procfs"
)

// newUserns returns a handle on a fresh user namespace mapping ids
// 0..size-1 to base..: made by a short-lived child of ours (a user
// namespace lives as long as a handle on it does).
func newUserns(base, size uint32) (*os.File, error) {
	cmd := exec.Command(procfs.SelfExe, HoldUsernsArg)
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: int(size)}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: m, GidMappings: m}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace for id mapping: %w", err)
	}
	ns, err := os.Open(procfs.NS(cmd.Process.Pid, "user"))
	stdin.Close() // the holder exits on EOF
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace for id mapping: %w", err)
	}
	return ns, nil
}

// HoldUsernsArg is the hidden argument that makes the binary wait for
// EOF on stdin and exit (see newUserns); main dispatches it.
const HoldUsernsArg = "hold-userns"

// HoldUserns is the body of the hold-userns helper: wait for EOF.
func HoldUserns() {
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			os.Exit(0)
		}
	}
}
