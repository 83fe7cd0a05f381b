package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/hooks"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/nsenter"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/rootfs"
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
	switch c.Kind {
	case KindInit:
		err = containerInit(&c, conn)
	case KindExec:
		err = execInit(&c, conn)
	default:
		err = fmt.Errorf("unknown init kind %q", c.Kind)
	}
	// Only errors come back: success is an execve. After "ready" the
	// runtime has gone; stderr is then the only witness.
	if sendErr := conn.Send(Message{Type: MsgError, Error: err.Error()}); sendErr != nil || conn.ready {
		fmt.Fprintf(os.Stderr, "tirith init: %v\n", err)
	}
	os.Exit(1)
}

// containerInit raises the walls of a new container in order. Namespaces
// (walls 1 and 5) and the cgroup (wall 6) were set up before Go started;
// who we are now: root in the container's user namespace (or the host's),
// with every capability, in all the container's namespaces.
func containerInit(c *Config, conn *Conn) error {
	s, p := c.Spec, c.Process

	// Wall 7 (filesystem): the spec's mounts and devices, resolved inside
	// the rootfs, while the host's filesystem is still our root.
	var idmapped *os.File
	if c.IdmapRootfs {
		var err error
		if idmapped, err = recvFile(conn); err != nil {
			return fmt.Errorf("wall 1 (identity): idmapped rootfs: %w", err)
		}
		defer idmapped.Close()
	}
	prop, _ := rootfs.ParsePropagation(s.Linux.RootfsPropagation)
	if err := rootfs.Prepare(s.Root.Path, prop, idmapped); err != nil {
		return fmt.Errorf("wall 7 (filesystem): %w", err)
	}
	root, err := rootfs.OpenRoot(s.Root.Path)
	if err != nil {
		return fmt.Errorf("wall 7 (filesystem): %w", err)
	}
	mc := rootfs.MountContext{CgroupPaths: c.CgroupPaths, CgroupNS: c.CgroupNS, UserNS: c.UserNS, MountLabel: s.Linux.MountLabel}
	for i, m := range s.Mounts {
		if err := root.Mount(m, mc); err != nil {
			return fmt.Errorf("wall 7 (filesystem): mounts[%d]: %w", i, err)
		}
	}
	if needsDevSetup(s.Mounts) {
		if err := root.CreateDevices(s.Linux.Devices, c.UserNS); err != nil {
			return fmt.Errorf("wall 7 (filesystem): %w", err)
		}
	}
	root.Close()

	// Hooks that must see the container's mounts but the host's root:
	// prestart and createRuntime run in the parent, createContainer here.
	//nolint:staticcheck // Prestart is deprecated but still honoured.
	if s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0) {
		if err := conn.Send(Message{Type: MsgHooks}); err != nil {
			return err
		}
		var m Message
		if err := conn.Recv(&m); err != nil || m.Type != MsgHooksDone {
			return fmt.Errorf("waiting for the runtime's hooks: %v", err)
		}
	}
	if s.Hooks != nil {
		if err := hooks.Run("createContainer", s.Hooks.CreateContainer, &c.State); err != nil {
			return err
		}
	}

	// Wall 7: leave the host's filesystem behind for good.
	if c.NoPivot {
		err = rootfs.MoveRoot(s.Root.Path)
	} else {
		err = rootfs.PivotRoot(s.Root.Path)
	}
	if err != nil {
		return fmt.Errorf("wall 7 (filesystem): %w", err)
	}
	if prop != 0 {
		// The rootfs bind mount made / a fresh mount: give it the
		// propagation asked for (as runc does).
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("wall 7 (filesystem): linux.rootfsPropagation on /: %w", err)
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
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("set domainname: %w", err)
		}
	}
	if err := writeSysctls(s.Linux.Sysctl); err != nil {
		return err
	}
	if s.Annotations[network.LoopbackAnnotation] == "up" {
		// Asked for by the front end (Docker's behaviour); the OCI
		// runtime otherwise leaves networking to the spec's owner.
		if err := network.LoopbackUp(); err != nil {
			return fmt.Errorf("wall 5 (namespaces): annotations[%q]: %w", network.LoopbackAnnotation, err)
		}
	}
	if s.Root.Readonly {
		if err := rootfs.ReadonlyRoot(); err != nil {
			return fmt.Errorf("wall 7 (filesystem): %w", err)
		}
	}
	if err := rootfs.ReadonlyPaths(s.Linux.ReadonlyPaths); err != nil {
		return fmt.Errorf("wall 7 (filesystem): %w", err)
	}
	if err := rootfs.MaskPaths(s.Linux.MaskedPaths, s.Linux.MountLabel); err != nil {
		return fmt.Errorf("wall 7 (filesystem): %w", err)
	}

	if !c.NoNewKeyring {
		// A session keyring of its own, so the container cannot read
		// the keys of the runtime's session.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + c.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
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

// needsDevSetup: the runtime populates /dev unless the spec bind-mounts
// one from elsewhere (runc's rule).
func needsDevSetup(mounts []specs.Mount) bool {
	for _, m := range mounts {
		if m.Destination == "/dev" {
			return !rootfs.ParseOptions(m.Options).Bind
		}
	}
	return true
}

// startPayload applies the per-process walls shared by init and exec, then
// waits for `start` (init only) and execs.
func startPayload(c *Config, conn *Conn, p *specs.Process) error {
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
		return fmt.Errorf("wall 4 (mandatory access): %w", err)
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
	var landlockPol *landlock.Policy
	if !p.NoNewPrivileges {
		var err error
		if landlockPol, err = restrictLandlock(c); err != nil {
			return err
		}
	}
	if c.Seccomp != nil && !p.NoNewPrivileges {
		if err := installSeccomp(c); err != nil {
			return err
		}
	}
	// Walls 1 and 2 (identity, privileges): bounding set, uid/gid, the
	// capability sets.
	if err := caps.Apply(p.Capabilities, p.User, c.Setgroups); err != nil {
		return fmt.Errorf("wall 2 (privileges): %w", err)
	}
	if err := chdirInRoot(p.Cwd); err != nil {
		return fmt.Errorf("as uid %d: %w", p.User.UID, err)
	}
	unix.Umask(umask(p.User.Umask))
	if p.NoNewPrivileges {
		// Wall 2: setuid binaries and file caps grant nothing from here.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("wall 2 (privileges): set no_new_privs: %w", err)
		}
	}
	if p.NoNewPrivileges {
		// Wall 4 (mandatory access): Landlock, once no_new_privs lets an
		// unprivileged thread restrict itself.
		var err error
		if landlockPol, err = restrictLandlock(c); err != nil {
			return err
		}
	}
	env := p.Env
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return err
	}
	if err := conn.Send(Message{Type: MsgReady}); err != nil {
		return err
	}
	if c.FifoFD >= 0 {
		// Block until `start` writes to the exec fifo.
		if err := waitStart(c.FifoFD); err != nil {
			return err
		}
		if c.Spec.Hooks != nil {
			if err := hooks.Run("startContainer", c.Spec.Hooks.StartContainer, &c.State); err != nil {
				return err
			}
		}
	}
	// Wall 3 (syscalls), last: as close to execve as possible, so the
	// filter need not allow the runtime's own syscalls.
	if c.Seccomp != nil && p.NoNewPrivileges {
		if err := installSeccomp(c); err != nil {
			return err
		}
	}
	if err := unix.Exec(path, p.Args, env); err != nil {
		return execError(p.Args[0], path, err, landlockPol, c.Spec.Mounts)
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
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	if _, err := unix.Getwd(); err != nil {
		return fmt.Errorf("process.cwd %q: resolves outside the container's root (getcwd: %w)", cwd, err)
	}
	return nil
}

// execError words a failed execve of the payload. EACCES alone does not
// say which wall refused; when a Landlock policy is in force and neither
// the file's mode bits nor its mount forbid the exec (access(2) checks
// both, and Landlock does not hook it), the policy did, and the error
// names the part of it that decided.
func execError(arg0, path string, err error, pol *landlock.Policy, mounts []specs.Mount) error {
	plain := fmt.Errorf("exec %q: %w", arg0, err)
	if !errors.Is(err, unix.EACCES) || pol == nil {
		return plain
	}
	if unix.Access(path, unix.X_OK) != nil {
		var st unix.Statfs_t
		if unix.Statfs(path, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
			return fmt.Errorf("wall 7 (filesystem): exec %q: %w: its filesystem is mounted noexec", path, err)
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
			if filepath.Clean(m.Destination) == filepath.Clean(noExec) && !slices.Contains(m.Options, "ro") {
				why = noExec + " is a writable mount (noExecute)"
			}
		}
	}
	return fmt.Errorf("wall 4 (Landlock): %s refused by the Landlock policy: %s; see --security-opt landlock (annotation %s)", what, why, landlock.Annotation)
}

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

// restrictLandlock applies the Landlock annotation, if any, and returns
// the policy now in force (nil if none). A kernel without Landlock runs
// the container without it (the wall is best effort, like the ABI levels
// within it).
func restrictLandlock(c *Config) (*landlock.Policy, error) {
	v, ok := c.Spec.Annotations[landlock.Annotation]
	if !ok {
		return nil, nil
	}
	pol, err := landlock.Parse(v)
	if err != nil {
		return nil, err
	}
	if _, err := pol.Restrict(); err != nil {
		if errors.Is(err, landlock.ErrUnsupported) {
			return nil, nil
		}
		return nil, fmt.Errorf("wall 4 (mandatory access): %w", err)
	}
	return pol, nil
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
