package initproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/lsm/apparmor"
	"github.com/tirith-project/tirith/internal/lsm/selinux"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime/plan"
	"github.com/tirith-project/tirith/internal/spec"
)

func setRlimits(rl []specs.POSIXRlimit) error {
	for _, r := range rl {
		t, ok := spec.Rlimit(r.Type)
		if !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", r.Type)
		}
		if err := unix.Prlimit(0, t, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
			return fmt.Errorf("set %s to %d/%d: %w", r.Type, r.Soft, r.Hard, err)
		}
	}
	return nil
}

func setOOMScoreAdj(v *int) error {
	if v == nil {
		return nil
	}
	if err := procfs.SetOOMScoreAdj(*v); err != nil {
		return fmt.Errorf("set oom_score_adj %d: %w", *v, err)
	}
	return nil
}

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

func setIOPriority(io *specs.LinuxIOPriority) error {
	if io == nil {
		return nil
	}
	const ioprioWhoProcess = 1
	prio := ioprioClasses[io.Class]<<13 | io.Priority
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
		return fmt.Errorf("set io priority %s/%d: %w", io.Class, io.Priority, e)
	}
	return nil
}

func setScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	attr := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   spec.SchedPolicies[s.Policy],
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}
	for _, f := range s.Flags {
		attr.Flags |= schedFlags[f]
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("set scheduler %s: %w", s.Policy, err)
	}
	return nil
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

func writeSysctls(sysctls []plan.Sysctl) error {
	for _, sc := range sysctls {
		if err := os.WriteFile(procfs.Sysctl(sc.Key), []byte(sc.Value), 0); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %w", sc.Key, err)
		}
	}
	return nil
}

// setExecLabels asks the LSMs for the payload's label at its execve.
func setExecLabels(profile, label string) error {
	if profile != "" {
		if err := apparmor.SetExecProfile(profile); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: %w", profile, err)
		}
	}
	if label != "" {
		if err := selinux.SetExecLabel(label); err != nil {
			return fmt.Errorf("process.selinuxLabel %q: %w", label, err)
		}
	}
	return nil
}

// lookPath finds the payload in the container's PATH (from its own env,
// not the runtime's) so that a missing binary fails `create` with a clear
// error instead of a dead container.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := executable(file); err != nil {
			return "", commandErr(fmt.Errorf("exec: %q: %w", file, err))
		}
		return file, nil
	}
	path := spec.DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, file); executable(p) == nil {
			return p, nil
		}
	}
	// runc's words (Go's exec.LookPath): Docker and podman map them to
	// exit code 127, and a candidate that is not executable counts as
	// not found, as there.
	return "", &Fault{Kind: KindCommandNotFound, Field: "process.args", Err: fmt.Errorf("exec: %q: executable file not found in $PATH", file)}
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return unix.EISDIR
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return err
	}
	return nil
}
