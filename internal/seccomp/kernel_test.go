package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/testutil"
)

// The in-kernel tests re-execute the test binary with childEnv set; the
// child installs a filter for good (seccomp cannot be undone) and reports
// on stdout, so the parent test process stays unfiltered.
const childEnv = "TIRITH_SECCOMP_TEST_CHILD"

// Magic argument values that no real caller passes. hiMagic differs from a
// valid pid only in the high 32 bits, so the kernel would truncate it and
// succeed if the filter compared only the low half.
const (
	hiMagic     = 1 << 32
	notifyMagic = 0x4242
)

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		if err := runChild(c); err != nil {
			fmt.Println("child error:", err)
			os.Exit(1)
		}
		fmt.Println("child ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// getpgid is the syscall the tests filter: the Go runtime never makes it.
func getpgid(arg uint64) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_GETPGID, uintptr(arg), 0, 0)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

func onlyGetpgid(act specs.LinuxSeccompAction, args ...specs.LinuxSeccompArg) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpgid"}, Action: act, Args: args}},
	}
}

func install(cfg *specs.LinuxSeccomp, noNewPrivs bool) (int, error) {
	p, err := Compile(cfg, runtime.GOARCH)
	if err != nil {
		return -1, err
	}
	if noNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return -1, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	return Install(p)
}

func runChild(c string) error {
	switch c {
	case "errno", "errno-root":
		// A thread that exists before Install must be filtered too (TSYNC).
		ready, call, done := make(chan struct{}), make(chan struct{}), make(chan error)
		go func() {
			runtime.LockOSThread()
			close(ready)
			<-call
			_, err := getpgid(hiMagic)
			done <- err
		}()
		<-ready
		rule := specs.LinuxSeccompArg{Index: 0, Value: hiMagic, Op: specs.OpEqualTo}
		if _, err := install(onlyGetpgid(specs.ActErrno, rule), c == "errno"); err != nil {
			return err
		}
		if _, err := getpgid(hiMagic); !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("getpgid(1<<32) = %v, want EPERM", err)
		}
		close(call)
		if err := <-done; !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("getpgid(1<<32) on an older thread = %v, want EPERM", err)
		}
		if _, err := getpgid(0); err != nil {
			return fmt.Errorf("getpgid(0) = %v, want success", err)
		}
	case "kill":
		if _, err := install(onlyGetpgid(specs.ActKillProcess), true); err != nil {
			return err
		}
		getpgid(0)
		return errors.New("still alive after a KILL_PROCESS syscall")
	case "trap":
		if _, err := install(onlyGetpgid(specs.ActTrap), true); err != nil {
			return err
		}
		getpgid(0) // SIGSYS: the Go runtime dies with "SIGSYS: bad system call"
		return errors.New("still alive after a TRAP syscall")
	case "log":
		if _, err := install(onlyGetpgid(specs.ActLog), true); err != nil {
			return err
		}
		if _, err := getpgid(0); err != nil {
			return fmt.Errorf("getpgid(0) under LOG = %v, want success", err)
		}
	case "notify":
		rule := specs.LinuxSeccompArg{Index: 0, Value: notifyMagic, Op: specs.OpEqualTo}
		fd, err := install(onlyGetpgid(specs.ActNotify, rule), true)
		if err != nil {
			return err
		}
		if fd < 0 {
			return errors.New("no listener fd for a NOTIFY profile")
		}
		type result struct {
			r   uintptr
			err error
		}
		res := make(chan result)
		go func() {
			r, err := getpgid(notifyMagic)
			res <- result{r, err}
		}()
		n, err := notifRecv(fd)
		if err != nil {
			return err
		}
		if n.Data.Nr != unix.SYS_GETPGID || n.Data.Args[0] != notifyMagic {
			return fmt.Errorf("notification for nr %d args %#x, want getpgid(%#x)", n.Data.Nr, n.Data.Args, notifyMagic)
		}
		if err := notifSend(fd, &notifResp{ID: n.ID, Val: 4242}); err != nil {
			return err
		}
		if r := <-res; r.err != nil || r.r != 4242 {
			return fmt.Errorf("notified getpgid = %d, %v; want 4242 from the listener", r.r, r.err)
		}
	case "default":
		if _, err := install(Default(nil), true); err != nil {
			return err
		}
		// The Go runtime itself (threads, signals, timers) must keep working.
		done := make(chan struct{})
		go func() { runtime.GC(); close(done) }()
		<-done
		checks := []struct {
			name string
			nr   uintptr
			args [3]uintptr
			want unix.Errno
		}{
			{"unshare(CLONE_NEWUSER)", unix.SYS_UNSHARE, [3]uintptr{unix.CLONE_NEWUSER}, unix.EPERM},
			{"io_uring_setup", unix.SYS_IO_URING_SETUP, [3]uintptr{1, 0}, unix.EPERM},
			{"keyctl", unix.SYS_KEYCTL, [3]uintptr{0}, unix.EPERM},
			{"bpf", unix.SYS_BPF, [3]uintptr{0}, unix.EPERM},
			{"clone3", unix.SYS_CLONE3, [3]uintptr{0, 0}, unix.ENOSYS},
			{"personality(ADDR_NO_RANDOMIZE)", unix.SYS_PERSONALITY, [3]uintptr{0x0040000}, unix.EPERM},
			{"personality(query)", unix.SYS_PERSONALITY, [3]uintptr{0xffffffff}, 0},
			{"getpid", unix.SYS_GETPID, [3]uintptr{}, 0},
		}
		for _, c := range checks {
			_, _, errno := unix.Syscall(c.nr, c.args[0], c.args[1], c.args[2])
			if errno != c.want {
				return fmt.Errorf("%s: errno %v, want %v", c.name, errno, c.want)
			}
		}
		if err := os.WriteFile(os.DevNull, []byte("x"), 0); err != nil {
			return fmt.Errorf("write /dev/null: %w", err)
		}
	default:
		return fmt.Errorf("unknown child case %q", c)
	}
	return nil
}

// runInChild re-executes the test binary for case c and returns its
// output and wait status.
func runInChild(t *testing.T, c string) (string, syscall.WaitStatus) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+c)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run child: %v", err)
	}
	return string(out), cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func requireOK(t *testing.T, c string) {
	t.Helper()
	out, ws := runInChild(t, c)
	if !ws.Exited() || ws.ExitStatus() != 0 || !strings.Contains(out, "child ok") {
		t.Fatalf("child %q: status %v, output:\n%s", c, ws, out)
	}
}

func TestKernelErrno(t *testing.T)  { requireOK(t, "errno") }
func TestKernelLog(t *testing.T)    { requireOK(t, "log") }
func TestKernelNotify(t *testing.T) { requireOK(t, "notify") }

// TestKernelDefault runs Go code under the default profile and checks a
// few of its refusals in the real kernel.
func TestKernelDefault(t *testing.T) { requireOK(t, "default") }

func TestKernelKillProcess(t *testing.T) {
	out, ws := runInChild(t, "kill")
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child status %v, want killed by SIGSYS; output:\n%s", ws, out)
	}
}

func TestKernelTrap(t *testing.T) {
	out, ws := runInChild(t, "trap")
	// TRAP delivers a catchable SIGSYS; the Go runtime reports it and
	// exits 2, unlike KILL_PROCESS where the kernel kills outright.
	if ws.Signaled() || ws.ExitStatus() != 2 || !strings.Contains(out, "SIGSYS") {
		t.Fatalf("child status %v, want exit 2 with a SIGSYS report; output:\n%s", ws, out)
	}
}

// TestKernelInstallWithCapSysAdmin: without no_new_privs, seccomp(2)
// needs CAP_SYS_ADMIN.
func TestKernelInstallWithCapSysAdmin(t *testing.T) {
	testutil.RequireRoot(t)
	requireOK(t, "errno-root")
}

func TestInstallRefusesForeignArch(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	p := mustCompile(t, Default(nil), other)
	if _, err := Install(p); err == nil || !strings.Contains(err.Error(), "compiled for") {
		t.Fatalf("Install of a %s filter on %s: %v", other, runtime.GOARCH, err)
	}
}
