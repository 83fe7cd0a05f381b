package initproc

import (
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/runtime/plan"
)

// report reads back what the kernel granted, once every wall but seccomp
// is up: the runtime stores it beside the plan. A read that fails leaves
// its field empty: the report says what is known, never a guess.
func report(applied *landlock.Applied, p *plan.Process) *plan.Report {
	r := &plan.Report{Landlock: applied, LandlockUnsupported: p.Landlock != nil && applied == nil}
	if c, err := caps.Current(); err == nil {
		r.Capabilities = c
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil {
		r.NoNewPrivileges = v == 1
	}
	r.UID, r.GID = uint32(unix.Getuid()), uint32(unix.Getgid())
	if p.Seccomp != nil && p.Seccomp.Program != nil {
		r.SeccompInstructions = len(p.Seccomp.Program.Filter)
	}
	return r
}
