package initproc

import (
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/runtime/plan"
	"github.com/tirith-project/tirith/internal/seccomp"
)

// installSeccomp loads the filter and, for SCMP_ACT_NOTIFY rules, sends
// the listener fd to the profile's listenerPath as runtime-spec says: the
// container process state as JSON, with the fd attached (SCM_RIGHTS).
func installSeccomp(c *Config, f *plan.Seccomp) error {
	fd, err := seccomp.Install(f.Program)
	if err != nil {
		return wallErr(3, "", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if c.ListenerFD < 0 {
		return &Fault{Kind: KindWall, Wall: 3, Field: "linux.seccomp.listenerPath", Err: fmt.Errorf("wall 3 (syscalls): notify rules need linux.seccomp.listenerPath")}
	}
	defer unix.Close(c.ListenerFD)
	st := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      os.Getpid(),
		State:    c.State,
		Metadata: f.ListenerMetadata,
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(c.ListenerFD, data, unix.UnixRights(fd), nil, 0); err != nil {
		return wallErr(3, "", fmt.Errorf("send seccomp notify fd to listener: %w", err))
	}
	return nil
}
