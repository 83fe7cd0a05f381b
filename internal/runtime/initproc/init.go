package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/sys/userns"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/hooks"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/nsenter"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/runtime/plan"
)

// Main is the entry point of `tirith init`. It never returns: it execs the
// payload or exits non-zero after telling the parent why.
func Main() {
	// Capabilities, the uid switch and no_new_privs below act on this
	// thread; it must be the one that calls execve.
	runtime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvSyncFD))
	if err != nil || fd < 3 {
		fmt.Fprintln(os.Stderr, "tirith init: not started by the runtime")
		os.Exit(1)
	}
	os.Unsetenv(nsenter.EnvSyncFD)
	sock := os.NewFile(uintptr(fd), "sync")
	conn := NewChildConn(sock)
	var c Config
	if err := conn.Recv(&c); err != nil {
		os.Exit(1)
	}
	c.exe = -1
	switch c.Kind {
	case KindInit:
		if c.Process == nil && c.Plan != nil {
			c.Process = &c.Plan.Process
		}
		c.exe = openSelfExe()
		err = containerInit(&c, conn)
	case KindExec:
		err = execInit(&c, conn)
	default:
		err = fmt.Errorf("unknown init kind %q", c.Kind)
	}
	// Only errors come back: success is an execve. After "ready" the
	// runtime has gone; stderr is then the only witness, and the exit
	// code, which becomes the container's: the shell's 127 for a
	// command that vanished, 126 for one that cannot be executed
	// (Docker reports the same for a refused exec).
	fl := NewFailure(err)
	if sendErr := conn.Send(Message{Type: MsgError, Failure: fl}); sendErr != nil || conn.ready {
		fmt.Fprintf(os.Stderr, "tirith init: %v\n", err)
		os.Exit(lateExitCode(fl))
	}
	os.Exit(1)
}

// lateExitCode is the init's exit code for a failure after `ready`.
func lateExitCode(fl *Failure) int {
	switch {
	case fl.Kind == KindCommandNotFound || unix.Errno(fl.Errno) == unix.ENOENT:
		return 127
	case fl.Kind == KindCommandNotExecutable:
		return 126
	}
	switch unix.Errno(fl.Errno) {
	case unix.EACCES, unix.EPERM, unix.ENOEXEC, unix.EISDIR:
		return 126
	}
	return 1
}

// containerInit applies the plan of a new container, wall by wall.
// Namespaces (walls 1 and 5) and the cgroup (wall 6) were set up before
// Go started; who we are now: root in the container's user namespace (or
// the host's), with every capability, in all the container's namespaces,
// with the rootfs as our working directory.
func containerInit(c *Config, conn *Conn) error {
	pl, p := c.Plan, c.Process

	// Wall 7 (filesystem): the mounts and devices, resolved inside the
	// rootfs, while the host's filesystem is still our root.
	var idmapped *os.File
	if pl.Rootfs.Idmapped {
		var err error
		if idmapped, err = recvFile(conn); err != nil {
			return wallErr(1, "", fmt.Errorf("idmapped rootfs: %w", err))
		}
		defer idmapped.Close()
	}
	if joinsMountNS(pl) {
		// setns(2) put us at the root of the joined namespace: the
		// rootfs is only found there by its path.
		if err := unix.Chdir(pl.Rootfs.Path); err != nil {
			return wallErr(7, "root.path", &os.PathError{Op: "chdir", Path: pl.Rootfs.Path, Err: err})
		}
	}
	prop := pl.Rootfs.Propagation
	if err := rootfs.Prepare(pl.Rootfs.Path, prop, idmapped); err != nil {
		return wallErr(7, "", err)
	}
	root, err := rootfs.OpenRoot(pl.Rootfs.Path)
	if err != nil {
		return wallErr(7, "", err)
	}
	var trees []*os.File
	if c.BindTrees {
		if trees, err = recvBindTrees(conn, pl.Mounts); err != nil {
			return wallErr(7, "", fmt.Errorf("bind mount sources: %w", err))
		}
		// Each is closed once attached; these are for an error on the
		// way (all are close-on-exec anyway).
		defer closeAll(trees)
	}
	mc := rootfs.MountContext{CgroupPaths: pl.Cgroup.Paths, CgroupNS: pl.Cgroup.Namespace, UserNS: pl.Namespaces.Has(specs.UserNamespace) || userns.RunningInUserNS(), MountLabel: pl.MountLabel}
	for i, m := range pl.Mounts {
		var tree *os.File
		if trees != nil {
			tree = trees[i]
		}
		err := root.Mount(m, mc, tree)
		if tree != nil {
			tree.Close()
			trees[i] = nil
		}
		if err != nil {
			return wallErr(7, fmt.Sprintf("mounts[%d]", i), err)
		}
	}
	if pl.SetupDev {
		if err := root.CreateDevices(pl.Devices, mc.UserNS); err != nil {
			return wallErr(7, "", err)
		}
	}
	root.Close()

	// Hooks that must see the container's mounts but the host's root:
	// prestart and createRuntime run in the parent, createContainer here.
	if pl.Hooks.Runtime {
		if err := conn.Send(Message{Type: MsgHooks}); err != nil {
			return err
		}
		var m Message
		if err := conn.Recv(&m); err != nil || m.Type != MsgHooksDone {
			return fmt.Errorf("waiting for the runtime's hooks: %v", err)
		}
	}
	if err := hooks.Run("createContainer", pl.Hooks.CreateContainer, &c.State); err != nil {
		return &Fault{Kind: KindHook, Field: "hooks.createContainer", Err: err}
	}

	// Wall 7: leave the host's filesystem behind for good.
	if pl.Rootfs.NoPivot {
		err = rootfs.MoveRoot()
	} else {
		err = rootfs.PivotRoot()
	}
	if err != nil {
		return wallErr(7, "", err)
	}
	if prop != 0 {
		// The rootfs bind mount made / a fresh mount: give it the
		// propagation asked for (as runc does).
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return &Fault{Kind: KindWall, Wall: 7, Field: "linux.rootfsPropagation", Err: fmt.Errorf("wall 7 (filesystem): linux.rootfsPropagation on /: %w", err)}
		}
	}
	// The console needs the container's /dev/pts, so it comes after the
	// pivot, and before / goes read-only (it bind-mounts /dev/console).
	if p.Terminal {
		if err := setupConsole(c.ConsoleFD, p.ConsoleSize, true); err != nil {
			return err
		}
	}
	// Wall 5 (namespaces): what the new uts, ipc and net namespaces
	// hold. Sysctls go in before /proc/sys turns read-only below.
	if pl.Hostname != "" {
		if err := unix.Sethostname([]byte(pl.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if pl.Domainname != "" {
		if err := unix.Setdomainname([]byte(pl.Domainname)); err != nil {
			return fmt.Errorf("set domainname: %w", err)
		}
	}
	if err := writeSysctls(pl.Sysctls); err != nil {
		return err
	}
	if pl.Loopback {
		// Asked for by the front end (Docker's behaviour); the OCI
		// runtime otherwise leaves networking to the spec's owner.
		if err := network.LoopbackUp(); err != nil {
			return wallErr(5, fmt.Sprintf("annotations[%q]", network.LoopbackAnnotation), err)
		}
	}
	if pl.Rootfs.Readonly {
		if err := rootfs.ReadonlyRoot(); err != nil {
			return wallErr(7, "", err)
		}
	}
	if err := rootfs.ReadonlyPaths(pl.ReadonlyPaths); err != nil {
		return wallErr(7, "", err)
	}
	if err := rootfs.MaskPaths(pl.MaskedPaths, pl.MountLabel); err != nil {
		return wallErr(7, "", err)
	}

	if pl.SessionKeyring != "" {
		// A session keyring of its own, so the container cannot read
		// the keys of the runtime's session.
		if _, err := unix.KeyctlJoinSessionKeyring(pl.SessionKeyring); err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	return startPayload(c, conn, p)
}

// recvFile receives one file descriptor from the parent (SCM_RIGHTS on
// a one-byte message).
func recvFile(conn *Conn) (*os.File, error) {
	f, ok := conn.w.(*os.File)
	if !ok {
		return nil, errors.New("sync socket is not a file")
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("no file descriptor received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("no file descriptor received")
	}
	return os.NewFile(uintptr(fds[0]), "received"), nil
}

// recvBindTrees asks the runtime for the sources of the spec's bind
// mounts, cloned in our mount namespace with its privileges
// (rootfs.CloneSource), and receives them in spec order: trees[i] is
// mounts[i]'s, nil for other mounts.
func recvBindTrees(conn *Conn, mounts []rootfs.Op) ([]*os.File, error) {
	if err := conn.Send(Message{Type: MsgBindSources}); err != nil {
		return nil, err
	}
	trees := make([]*os.File, len(mounts))
	for i, m := range mounts {
		if !m.IsBind() {
			continue
		}
		f, err := recvFile(conn)
		if err != nil {
			closeAll(trees)
			// When the runtime could not clone a source it
			// reports its own error, not this one.
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
		trees[i] = f
	}
	return trees, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// joinsMountNS reports whether the container joins an existing mount
// namespace rather than making one.
func joinsMountNS(pl *plan.Plan) bool {
	for _, j := range pl.Namespaces.Join {
		if j.Type == specs.MountNamespace {
			return true
		}
	}
	return false
}

// startPayload applies the per-process walls shared by init and exec, then
// waits for `start` (init only) and execs.
func startPayload(c *Config, conn *Conn, p *plan.Process) error {
	if err := setRlimits(p.Rlimits); err != nil {
		return err
	}
	if err := setOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return err
	}
	if err := setIOPriority(p.IOPriority); err != nil {
		return err
	}
	if err := setScheduler(p.Scheduler); err != nil {
		return err
	}
	// Wall 4 (mandatory access): labels take effect at execve.
	if err := setExecLabels(p.ApparmorProfile, p.SelinuxLabel); err != nil {
		return wallErr(4, "", err)
	}
	if !p.Terminal {
		// A session of its own: signals from the runtime's terminal
		// reach the container only through the runtime.
		if _, err := unix.Setsid(); err != nil && !errors.Is(err, unix.EPERM) {
			return os.NewSyscallError("setsid", err)
		}
	}
	// The cwd is resolved now, inside the container's root: nothing of
	// the host's can be reached through it (CVE-2024-21626).
	if err := chdirInRoot(p.Cwd); err != nil {
		return err
	}
	// No fd of the runtime's may reach the payload (CVE-2024-21626):
	// everything above stdio and the preserved fds closes on exec. Done
	// before any seccomp filter, which need not allow close_range.
	if err := closeOnExecFrom(3 + c.PreserveFDs); err != nil {
		return err
	}
	// Walls 4 and 3, early case: without no_new_privs, a Landlock domain
	// or a seccomp filter needs CAP_SYS_ADMIN, which the next step may drop.
	var landlockApplied *landlock.Applied
	if !p.NoNewPrivileges {
		var err error
		if landlockApplied, err = restrictLandlock(p.Landlock); err != nil {
			return err
		}
	}
	if p.Seccomp != nil && !p.NoNewPrivileges {
		if err := installSeccomp(c, p.Seccomp); err != nil {
			return err
		}
	}
	// Walls 1 and 2 (identity, privileges): bounding set, uid/gid, the
	// capability sets.
	if err := caps.Apply(p.Capabilities, p.User, p.Setgroups); err != nil {
		return wallErr(2, "", err)
	}
	if err := chdirInRoot(p.Cwd); err != nil {
		return fmt.Errorf("as uid %d: %w", p.User.UID, err)
	}
	unix.Umask(umask(p.User.Umask))
	if p.NoNewPrivileges {
		// Wall 2: setuid binaries and file caps grant nothing from here.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return wallErr(2, "", fmt.Errorf("set no_new_privs: %w", err))
		}
	}
	lean := leanWaitable(c, p)
	rulesetFD := -1
	if p.NoNewPrivileges {
		// Wall 4 (mandatory access): Landlock, once no_new_privs lets an
		// unprivileged thread restrict itself. The lean waiter enforces
		// it after its own exec, which the ruleset would refuse.
		var err error
		if lean {
			rulesetFD, landlockApplied, err = prepareLandlock(p.Landlock)
		} else {
			landlockApplied, err = restrictLandlock(p.Landlock)
		}
		if err != nil {
			return err
		}
	}
	env := p.Env
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return err
	}
	var landlockMsg string
	if lean && landlockApplied != nil {
		// The waiter cannot ask why an exec was refused; word the
		// answer for EACCES now, while Go can.
		if f := (*Fault)(nil); errors.As(execError(p.Args[0], path, unix.EACCES, p.Landlock, c.Plan.Mounts), &f) && f.Kind == KindWall {
			landlockMsg = f.Error()
		}
	}
	if err := conn.Send(Message{Type: MsgReady, Report: report(landlockApplied, p)}); err != nil {
		return err
	}
	if lean {
		return execLeanWaiter(c, p, path, rulesetFD, landlockMsg)
	}
	if c.FifoFD >= 0 {
		// Block until `start` writes to the exec fifo.
		if err := waitStart(c.FifoFD); err != nil {
			return err
		}
		if err := hooks.Run("startContainer", c.Plan.Hooks.StartContainer, &c.State); err != nil {
			return &Fault{Kind: KindHook, Field: "hooks.startContainer", Err: err}
		}
	}
	// Wall 3 (syscalls), last: as close to execve as possible, so the
	// filter need not allow the runtime's own syscalls.
	if p.Seccomp != nil && p.NoNewPrivileges {
		if err := installSeccomp(c, p.Seccomp); err != nil {
			return err
		}
	}
	if err := unix.Exec(path, p.Args, env); err != nil {
		var inForce *landlock.Policy
		if landlockApplied != nil {
			inForce = p.Landlock
		}
		return commandErr(execError(p.Args[0], path, err, inForce, c.Plan.Mounts))
	}
	return nil
}

// chdirInRoot changes to cwd and checks that it lies inside our root. A
// symlink in the rootfs to /proc/self/fd/N (an fd of ours to a host
// directory, such as one passed with --preserve-fds) would otherwise
// leave the payload's cwd on the host; the kernel's getcwd then reports
// the path as "(unreachable)...", which Getwd refuses.
func chdirInRoot(cwd string) error {
	if err := unix.Chdir(cwd); err != nil {
		return &Fault{Field: "process.cwd", Err: fmt.Errorf("process.cwd %q: %w", cwd, err)}
	}
	if _, err := unix.Getwd(); err != nil {
		return &Fault{Kind: KindInvalidConfig, Field: "process.cwd", Err: fmt.Errorf("process.cwd %q: resolves outside the container's root (getcwd: %w)", cwd, err)}
	}
	return nil
}

// execError words a failed execve of the payload. EACCES alone does not
// say which wall refused; when a Landlock policy is in force and neither
// the file's mode bits nor its mount forbid the exec (access(2) checks
// both, and Landlock does not hook it), the policy did, and the error
// names the part of it that decided.
func execError(arg0, path string, err error, pol *landlock.Policy, mounts []rootfs.Op) error {
	plain := fmt.Errorf("exec %q: %w", arg0, err)
	if !errors.Is(err, unix.EACCES) || pol == nil {
		return plain
	}
	if unix.Access(path, unix.X_OK) != nil {
		var st unix.Statfs_t
		if unix.Statfs(path, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
			return &Fault{Kind: KindCommandNotExecutable, Wall: 7, Field: "process.args", Err: fmt.Errorf("wall 7 (filesystem): exec %q: %w: its filesystem is mounted noexec", path, err)}
		}
		return plain
	}
	target, what := path, "exec "+strconv.Quote(path)
	noExec, refused := pol.Refusal(path)
	if !refused {
		// The file may run; a script's interpreter may not.
		interp := interpreter(path)
		if interp == "" {
			return plain
		}
		if noExec, refused = pol.Refusal(interp); !refused {
			return plain
		}
		target, what = interp, fmt.Sprintf("exec %q: its interpreter %q", path, interp)
	}
	why := target + " lies beneath no execute path"
	if noExec != "" {
		why = noExec + " is in noExecute"
		for _, m := range mounts {
			if filepath.Clean(m.Destination) == filepath.Clean(noExec) && m.Parsed.Flags&unix.MS_RDONLY == 0 {
				why = noExec + " is a writable mount (noExecute)"
			}
		}
	}
	// A wall's refusal, not a command that cannot run: Tirith's own
	// error (125 in the front end), as the policy is Tirith's.
	return &Fault{Kind: KindWall, Wall: 4, Field: fmt.Sprintf("annotations[%q]", landlock.Annotation),
		Err: &worded{msg: fmt.Sprintf("wall 4 (Landlock): %s refused by the Landlock policy: %s; see --security-opt landlock (annotation %s)", what, why, landlock.Annotation), err: err}}
}

// worded is an error whose text says it all and that still unwraps to
// the errno behind it (the exit code after start is chosen from it).
type worded struct {
	msg string
	err error
}

func (w *worded) Error() string { return w.msg }
func (w *worded) Unwrap() error { return w.err }

// interpreter is the program a "#!" line at the top of path names, or "".
func interpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	line, ok := strings.CutPrefix(string(buf[:n]), "#!")
	if !ok {
		return ""
	}
	line, _, _ = strings.Cut(line, "\n")
	if fields := strings.Fields(line); len(fields) > 0 {
		return fields[0]
	}
	return ""
}

// restrictLandlock applies the plan's Landlock policy, if any, and
// returns what the kernel enforced (nil if nothing). A kernel without
// Landlock runs the container without it (the wall is best effort, like
// the ABI levels within it); the report says so.
func restrictLandlock(pol *landlock.Policy) (*landlock.Applied, error) {
	if pol == nil {
		return nil, nil
	}
	applied, err := pol.Restrict()
	if err != nil {
		if errors.Is(err, landlock.ErrUnsupported) {
			return nil, nil
		}
		return nil, wallErr(4, "", err)
	}
	return applied, nil
}

// closeOnExecFrom marks every fd >= from close-on-exec: close_range(2),
// or on kernels without it a walk of /proc/self/fd.
func closeOnExecFrom(from int) error {
	err := unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	fds, rerr := procfs.SelfFDs()
	if rerr != nil {
		return fmt.Errorf("close_range: %w (and /proc/self/fd: %v)", err, rerr)
	}
	for _, fd := range fds {
		if fd >= from {
			// The directory's own fd may be gone already: ignore EBADF.
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}

func umask(u *uint32) int {
	if u == nil {
		return 0o022
	}
	return int(*u)
}

func waitStart(fd int) error {
	f := os.NewFile(uintptr(fd), "exec.fifo")
	defer f.Close()
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for start: %w", err)
		}
	}
}

// execInit runs a process that joined a running container (tirith exec).
// setns(CLONE_NEWNS) already made the container's root ours.
func execInit(c *Config, conn *Conn) error {
	if c.Process.Terminal {
		if err := setupConsole(c.ConsoleFD, c.Process.ConsoleSize, false); err != nil {
			return err
		}
	}
	return startPayload(c, conn, c.Process)
}
