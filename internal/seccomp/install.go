package seccomp

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/tirith-project/tirith/internal/bpf"
	"golang.org/x/sys/unix"
)

// Install loads p into the kernel for every thread of the calling process
// (SECCOMP_FILTER_FLAG_TSYNC: the Go runtime runs many threads, and a
// filter on one thread only would leave the others open). It adds
// SECCOMP_FILTER_FLAG_NEW_LISTENER when p.Notify is set and then returns
// the listener fd for SCMP_ACT_NOTIFY, which the caller must pass on (to
// the profile's listenerPath) or close; otherwise it returns -1.
//
// Preconditions: the calling process has no_new_privs set
// (prctl(PR_SET_NO_NEW_PRIVS)) or CAP_SYS_ADMIN in its user namespace, as
// seccomp(2) requires; and nothing but the final execve runs after it,
// because the filter applies to the runtime's own remaining syscalls too.
func Install(p *Program) (notifyFD int, err error) {
	if err := p.Loadable(); err != nil {
		return -1, err
	}
	flags := p.Flags | unix.SECCOMP_FILTER_FLAG_TSYNC
	if p.Notify {
		// TSYNC and NEW_LISTENER both use the return value; TSYNC_ESRCH
		// (Linux 5.7) makes a TSYNC failure an ESRCH error instead.
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	ret, err := seccompSetModeFilter(p.Filter, flags)
	if err != nil {
		return -1, fmt.Errorf("install seccomp filter (flags %#x): %w", flags, err)
	}
	if p.Notify {
		return ret, nil
	}
	if ret != 0 {
		// Without TSYNC_ESRCH a TSYNC failure returns the id of the thread
		// that could not be synchronised.
		return -1, fmt.Errorf("install seccomp filter: thread %d could not be synchronised", ret)
	}
	return -1, nil
}

// Loadable checks that p can be loaded on this machine: not empty,
// compiled for this architecture (a filter for another would kill the
// process on its first syscall), and a valid program.
func (p *Program) Loadable() error {
	if p == nil || len(p.Filter) == 0 {
		return errors.New("install seccomp filter: empty program")
	}
	if p.Arch != runtime.GOARCH {
		return fmt.Errorf("install seccomp filter: compiled for %s, running on %s", p.Arch, runtime.GOARCH)
	}
	if err := bpf.Check(p.Filter); err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	return nil
}
