package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Seccomp return values, from <linux/seccomp.h>. The action is in the high
// 16 bits, data (an errno, a tracer message) in the low 16.
const (
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retTrap        = unix.SECCOMP_RET_TRAP
	retErrno       = unix.SECCOMP_RET_ERRNO
	retUserNotif   = unix.SECCOMP_RET_USER_NOTIF
	retTrace       = unix.SECCOMP_RET_TRACE
	retLog         = unix.SECCOMP_RET_LOG
	retAllow       = unix.SECCOMP_RET_ALLOW
)

// maxErrno is MAX_ERRNO: larger values are not errors to user space.
const maxErrno = 4095

// badArchAction answers a syscall from an architecture (or ABI, for x32)
// the profile does not allow. Killing the whole process rather than the
// thread leaves no half-dead process behind.
const badArchAction = retKillProcess

var knownActions = map[specs.LinuxSeccompAction]bool{
	specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true,
	specs.ActTrap: true, specs.ActErrno: true, specs.ActTrace: true,
	specs.ActAllow: true, specs.ActLog: true, specs.ActNotify: true,
}

// actionValue encodes an OCI action as a seccomp return value. errnoRet
// applies to ERRNO and TRACE and defaults to EPERM, as in runc.
func actionValue(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if *errnoRet > maxErrno {
			return 0, fmt.Errorf("errnoRet %d out of range (0-%d)", *errnoRet, maxErrno)
		}
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | data, nil
	case specs.ActTrace:
		return retTrace | data, nil
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return retUserNotif, nil
	}
	return 0, fmt.Errorf("unknown action %q", act)
}

// ActionString renders a seccomp return value for humans, e.g. "ERRNO(1)".
func ActionString(ret uint32) string {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case retKillProcess:
		return "KILL_PROCESS"
	case retKillThread:
		return "KILL_THREAD"
	case retTrap:
		return fmt.Sprintf("TRAP(%d)", ret&unix.SECCOMP_RET_DATA)
	case retErrno:
		return fmt.Sprintf("ERRNO(%d)", ret&unix.SECCOMP_RET_DATA)
	case retUserNotif:
		return "NOTIFY"
	case retTrace:
		return fmt.Sprintf("TRACE(%d)", ret&unix.SECCOMP_RET_DATA)
	case retLog:
		return "LOG"
	case retAllow:
		return "ALLOW"
	}
	return fmt.Sprintf("%#x", ret)
}

// Filter flags a profile may ask for, from <linux/seccomp.h>.
var knownFlags = map[specs.LinuxSeccompFlag]uint{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
	// TSYNC is always set by Install; listing it is allowed and a no-op.
	"SECCOMP_FILTER_FLAG_TSYNC": unix.SECCOMP_FILTER_FLAG_TSYNC,
}

var knownOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}
