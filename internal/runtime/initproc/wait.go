package initproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/nsenter"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime/plan"
)

// The lean init. A created container's init waits for `start` for as long
// as its user likes; the Go init doing so keeps the whole runtime binary
// resident (about 12 MB). Once every wall that must go up before the wait
// is up, it re-execs the sealed runtime binary as the lean waiter: the C
// constructor in internal/nsenter/wait.c, which never starts the Go
// runtime (about 1 MB). It restricts Landlock, waits, installs the
// seccomp filter and execs the payload, as the Go init would have.
//
// The Go init keeps the wait itself where the lean one cannot do the
// same: startContainer hooks (run after the wait, by Go); a seccomp
// filter with notify rules (its listener fd is sent after loading);
// no_new_privs off (Landlock and seccomp then go up before the uid
// switch, and the filter would apply to the waiter's own start); LSM
// exec labels (they would apply to the waiter's exec, not the
// payload's); and a joined pid namespace. That last one: an execve
// makes a process dumpable until wait.c's first prctl, a few
// microseconds; in a pid namespace of its own nothing but the host's
// processes can name the init to ptrace it in that window, and those
// could ptrace the payload too. In a joined one (a pod's shared pid
// namespace) a sibling container could.

// leanWaitable reports whether the lean waiter can stand in for this
// init's wait.
func leanWaitable(c *Config, p *plan.Process) bool {
	return c.FifoFD >= 0 && c.exe >= 0 && p.NoNewPrivileges &&
		len(c.Plan.Hooks.StartContainer) == 0 &&
		(p.Seccomp == nil || !p.Seccomp.Program.Notify) &&
		p.ApparmorProfile == "" && p.SelinuxLabel == "" &&
		slices.Contains(c.Plan.Namespaces.New, specs.PIDNamespace)
}

// openSelfExe opens the binary we run from (the sealed one) while the
// host's /proc is still reachable, for the re-exec after pivot_root.
func openSelfExe() int {
	fd, err := unix.Open(procfs.SelfExe, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// prepareLandlock builds the plan's Landlock ruleset for the lean waiter
// to enforce: -1 if there is no policy or the kernel has no Landlock.
func prepareLandlock(pol *landlock.Policy) (int, *landlock.Applied, error) {
	if pol == nil {
		return -1, nil, nil
	}
	fd, applied, err := pol.Ruleset()
	if errors.Is(err, landlock.ErrUnsupported) {
		return -1, nil, nil
	}
	if err != nil {
		return -1, nil, wallErr(4, "", err)
	}
	return fd, applied, nil
}

// waitMagic opens the instructions ("TWT1" little-endian).
const waitMagic = 0x31545754

// encodeWait lays out the lean waiter's instructions, as wait.c reads
// them (native byte order, strings NUL-terminated):
//
//	u32 magic, u32 fifo fd, u32 ruleset fd (-1: none),
//	u32 seccomp flags, u32 instruction count, the instructions,
//	path, `exec "ARG0"`, the Landlock wording of EACCES (or ""),
//	u32 argc, argv..., u32 envc, envp...
func encodeWait(fifoFD, rulesetFD int, prog *plan.Seccomp, path, what, landlockMsg string, argv, env []string) ([]byte, error) {
	var b bytes.Buffer
	u32 := func(v uint32) { _ = binary.Write(&b, binary.NativeEndian, v) }
	str := func(s string) error {
		if bytes.IndexByte([]byte(s), 0) >= 0 {
			return fmt.Errorf("%q holds a NUL byte", s)
		}
		b.WriteString(s)
		b.WriteByte(0)
		return nil
	}
	u32(waitMagic)
	u32(uint32(int32(fifoFD)))
	u32(uint32(int32(rulesetFD)))
	if prog != nil {
		if err := prog.Program.Loadable(); err != nil {
			return nil, wallErr(3, "", err)
		}
		u32(uint32(prog.Program.Flags))
		u32(uint32(len(prog.Program.Filter)))
		f := prog.Program.Filter
		b.Write(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*int(unsafe.Sizeof(f[0]))))
	} else {
		u32(0)
		u32(0)
	}
	for _, s := range []string{path, what, landlockMsg} {
		if err := str(s); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]string{argv, env} {
		u32(uint32(len(list)))
		for _, s := range list {
			if err := str(s); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// execLeanWaiter hands the rest of the init to the lean waiter. It
// returns only on failure, before anything irreversible.
func execLeanWaiter(c *Config, p *plan.Process, path string, rulesetFD int, landlockMsg string) error {
	what := "exec " + strconv.Quote(p.Args[0])
	blob, err := encodeWait(c.FifoFD, rulesetFD, p.Seccomp, path, what, landlockMsg, p.Args, p.Env)
	if err != nil {
		return err
	}
	// Not close-on-exec: the waiter reads it, then closes it.
	mfd, err := unix.MemfdCreate("tirith-wait", unix.MFD_ALLOW_SEALING)
	if err != nil {
		return os.NewSyscallError("memfd_create", err)
	}
	if _, err := unix.Pwrite(mfd, blob, 0); err != nil {
		unix.Close(mfd)
		return os.NewSyscallError("write wait instructions", err)
	}
	if _, err := unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		unix.Close(mfd)
		return os.NewSyscallError("seal wait instructions", err)
	}
	// The fifo and the ruleset were marked close-on-exec with every fd
	// of ours (closeOnExecFrom); these two must reach the waiter.
	for _, fd := range []int{c.FifoFD, rulesetFD} {
		if fd < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			unix.Close(mfd)
			return os.NewSyscallError("fcntl", err)
		}
	}
	argv := []string{"tirith", "init"}
	env := []string{nsenter.EnvWaitFD + "=" + strconv.Itoa(mfd)}
	err = execveat(c.exe, argv, env)
	unix.Close(mfd)
	return fmt.Errorf("start the lean init: %w", err)
}

// execveat runs the file open at fd (execveat(2) with AT_EMPTY_PATH).
func execveat(fd int, argv, env []string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return os.NewSyscallError("execveat", e)
}
