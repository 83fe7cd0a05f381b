package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/hooks"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/nsenter"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/rootless"
	"github.com/tirith-project/tirith/internal/runtime/initproc"
	"github.com/tirith-project/tirith/internal/runtime/plan"
	"github.com/tirith-project/tirith/internal/spec"
)

// CreateOptions are `create`'s flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
	SystemdCgroup bool
	// Stdio for the container's init when there is no terminal; nil
	// means the runtime's own.
	Stdin, Stdout, Stderr *os.File
}

// Create sets up container id from a bundle and leaves its init waiting
// for Start. On any error nothing is left behind: no state dir, cgroup,
// mount or process.
func Create(root, id string, o CreateOptions) (c *Container, err error) {
	dir, err := containerDir(root, id)
	if err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	s, err := spec.Load(bundle)
	if err != nil {
		return nil, err
	}
	if err := checkNamespaces(s); err != nil {
		return nil, err
	}
	if ms := s.Linux.GIDMappings; os.Geteuid() != 0 && len(ms) == 1 && int(ms[0].HostID) == os.Getegid() && ms[0].Size == 1 {
		// An unprivileged caller writing its own gid map must deny
		// setgroups first (the kernel demands it), and then nobody in
		// the container may call it: runc does so unasked, and
		// `runc spec --rootless` says nothing of it.
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[spec.SetgroupsAnnotation] = "deny"
	}
	absMountSources(s, bundle)
	cg, err := cgroups.New(cgroups.Config{ID: id, CgroupsPath: s.Linux.CgroupsPath, Resources: s.Linux.Resources, Nodes: s.Linux.Devices, Systemd: o.SystemdCgroup, Rootless: Rootless()})
	if err != nil {
		return nil, err
	}

	if err := privateRoot(root); err != nil {
		return nil, fmt.Errorf("create runtime root: %w", err)
	}
	// mkdir is the atomic claim on the id: of two concurrent creates of
	// the same id exactly one gets here.
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	c = &Container{dir: dir}
	if err := c.lockDir(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	CrashPoint("after-state-dir")
	var initPid int
	defer func() {
		if err != nil {
			c.abort(cg, initPid)
			c = nil
		}
	}()

	c.State = State{ID: id, Bundle: bundle, Rootfs: s.Root.Path, Created: time.Now().UTC(), Owner: owner(), Cgroup: cg.State(), Config: s}
	// Saved before anything exists in the kernel, so that a runtime
	// killed from here on leaves a record `delete --force` can clean up.
	if err := c.save(); err != nil {
		return c, err
	}
	CrashPoint("after-state-saved")
	fifo, err := makeFifo(filepath.Join(dir, fifoName))
	if err != nil {
		return c, err
	}
	CrashPoint("after-fifo")
	defer fifo.Close()
	var console *os.File
	if s.Process.Terminal {
		if o.ConsoleSocket == "" {
			return c, errors.New("process.terminal is set: --console-socket is required")
		}
		if console, err = dialConsole(o.ConsoleSocket); err != nil {
			return c, err
		}
		defer console.Close()
	}

	if s.Annotations[rootfs.IdmapAnnotation] == "chown" {
		// Asked for explicitly: the rootfs's owners move into the
		// container's range on the host (see rootfs.IdmapAnnotation).
		u, g := s.Linux.UIDMappings[0], s.Linux.GIDMappings[0]
		if err := rootfs.ChownShift(s.Root.Path, u.HostID-u.ContainerID, g.HostID-g.ContainerID, min(u.Size, g.Size)); err != nil {
			return c, fmt.Errorf("annotations[%q]: %w", rootfs.IdmapAnnotation, err)
		}
	}
	// Every decision the init will apply, resolved here, where errors
	// are cheap to report (the seccomp filter is compiled now).
	pl, err := plan.Build(s, plan.Facts{
		ID: id, Arch: goruntime.GOARCH, CgroupPaths: cg.State().Paths,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
	})
	if err != nil {
		return c, err
	}
	listener, err := dialListener(s, pl.Process.Seccomp)
	if err != nil {
		return c, err
	}
	if listener != nil {
		defer listener.Close()
	}
	dropLegacySeals(root)
	exe, err := sealExe()
	if err != nil {
		return c, err
	}
	p, err := startChild(childOptions{
		exe: exe.path, dir: s.Root.Path, preserve: o.PreserveFDs, fifo: fifo, console: console, listener: listener,
		stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr,
		enterCgroup: cg.Apply, spec: s, nsConfig: newNamespaces(s), idmapRootfs: idmapRootfs(s),
	})
	// The init runs from the seal now: it holds the mount (or memfd)
	// for as long as it and its children run from it.
	exe.Close()
	if p != nil {
		initPid = p.pid
	}
	if err != nil {
		return c, err
	}
	defer p.Close()
	c.State.Pid = p.pid
	if c.State.InitStart, err = procfs.StartTime(p.pid); err != nil {
		return c, fmt.Errorf("container init %d: %w", p.pid, err)
	}
	CrashPoint("after-init-started")
	state := &specs.State{Version: specs.Version, ID: id, Status: Creating, Pid: p.pid, Bundle: bundle, Annotations: s.Annotations}
	cfg := &initproc.Config{
		Kind: initproc.KindInit, Plan: pl, // its Process is pl.Process, not sent twice
		// Rootless, container root is the caller itself: what it can
		// bind it reaches from inside, and it could not enter the
		// container's mount namespace to clone sources anyway.
		BindTrees:   pl.Namespaces.Has(specs.UserNamespace) && !Rootless(),
		PreserveFDs: o.PreserveFDs, FifoFD: p.fifoFD, ConsoleFD: p.consoleFD, ListenerFD: p.listenerFD,
		State: specs.State{Version: specs.Version, ID: id, Status: Created, Pid: p.pid, Bundle: bundle, Annotations: s.Annotations},
	}
	if err := p.conn.Send(cfg); err != nil {
		return c, fmt.Errorf("send config to container init: %w", err)
	}
	if err := p.sendIdmapped(); err != nil {
		return c, err
	}
	var m initproc.Message
	for {
		m = initproc.Message{}
		if err := p.conn.Recv(&m); err != nil {
			return c, fmt.Errorf("container init exited during setup: %w", p.exitErr(err))
		}
		switch m.Type {
		case initproc.MsgHooks:
			//nolint:staticcheck // Prestart is deprecated but still honoured.
			if err := hooks.Run("prestart", s.Hooks.Prestart, state); err != nil {
				return c, err
			}
			if err := hooks.Run("createRuntime", s.Hooks.CreateRuntime, state); err != nil {
				return c, err
			}
			if err := p.conn.Send(initproc.Message{Type: initproc.MsgHooksDone}); err != nil {
				return c, err
			}
			continue
		case initproc.MsgBindSources:
			if !cfg.BindTrees {
				return c, errors.New("container init asked for bind mount sources it was not told to expect")
			}
			if err := p.sendBindSources(pl.Mounts); err != nil {
				return c, err
			}
			continue
		case initproc.MsgError:
			return c, initError(m)
		case initproc.MsgReady:
		default:
			return c, fmt.Errorf("unexpected message %q from container init", m.Type)
		}
		break
	}
	CrashPoint("before-ready-save")
	// The plan and what the kernel granted, for inspect and exec; then
	// the state that says the init is ready.
	if err := c.savePlan(&Applied{Plan: pl, Report: m.Report}); err != nil {
		return c, err
	}
	if err := c.save(); err != nil {
		return c, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, p.pid); err != nil {
			return c, err
		}
	}
	return c, nil
}

// dialListener dials linux.seccomp.listenerPath when the compiled filter
// has notify rules: after pivot_root the child could not reach the
// socket's host path.
func dialListener(s *specs.Spec, f *plan.Seccomp) (*os.File, error) {
	if f == nil || !f.Program.Notify {
		return nil, nil
	}
	if s.Linux.Seccomp.ListenerPath == "" {
		return nil, errors.New("linux.seccomp.listenerPath: required by SCMP_ACT_NOTIFY rules")
	}
	conn, err := dialUnix(s.Linux.Seccomp.ListenerPath)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.listenerPath: %w", err)
	}
	return conn, nil
}

// idmapRootfs returns the rootfs path when the spec asks for it to be
// idmapped (spec.Validate checked the annotation).
func idmapRootfs(s *specs.Spec) string {
	if s.Annotations[rootfs.IdmapAnnotation] == "true" {
		return s.Root.Path
	}
	return ""
}

// checkNamespaces enforces what the rest of the runtime relies on.
func checkNamespaces(s *specs.Spec) error {
	if !namespaces.In(s.Linux.Namespaces, specs.MountNamespace) {
		return errors.New("linux.namespaces: a mount namespace is required (the rootfs is set up in it)")
	}
	for i, n := range s.Linux.Namespaces {
		if n.Path == "" {
			continue
		}
		if err := checkNamespacePath(n); err != nil {
			return fmt.Errorf("linux.namespaces[%d].path: %w", i, err)
		}
	}
	return nil
}

// checkNamespacePath makes sure a namespace to join exists and is of the
// type the spec says: setns with the wrong type only says EINVAL.
func checkNamespacePath(n specs.LinuxNamespace) error {
	fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: n.Path, Err: err}
	}
	defer unix.Close(fd)
	const nsGetNSType = 0xb703 // NS_GET_NSTYPE, <linux/nsfs.h>
	t, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return fmt.Errorf("%q is not a namespace: %w", n.Path, err)
	}
	if t != namespaces.CloneFlag(n.Type) {
		if typ, ok := namespaces.OfFlag(t); ok {
			return fmt.Errorf("%q is a %s namespace, not %s", n.Path, typ, n.Type)
		}
		return fmt.Errorf("%q is not a %s namespace", n.Path, n.Type)
	}
	return nil
}

// absMountSources makes bind sources relative to the bundle absolute, as
// runc does, so the child (whose cwd is elsewhere) finds them.
func absMountSources(s *specs.Spec, bundle string) {
	for i, m := range s.Mounts {
		if m.Source != "" && !filepath.IsAbs(m.Source) && (m.Type == "bind" || rootfs.ParseOptions(m.Options).Bind) {
			s.Mounts[i].Source = filepath.Join(bundle, m.Source)
		}
	}
}

// privateRoot makes root, creating it if needed, a directory only host
// root may enter: nothing of a container's (its state, its runtime
// binary) is for other users to reach by path. One made more open by
// hand or by an older Tirith is tightened.
func privateRoot(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return os.Chmod(root, perm&^0o077)
	}
	return nil
}

func makeFifo(path string) (*os.File, error) {
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	// The init holds the fifo open read-write: its read blocks until
	// `start` writes, and `start` can tell a dead init by ENXIO.
	return os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
}

// owner is the name of the user running the runtime, from the host's
// /etc/passwd (not os/user: its cgo lookups do not belong in a static
// binary), or the uid.
func owner() string {
	uid := strconv.Itoa(os.Getuid())
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return uid
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == uid && f[0] != "" {
			return f[0]
		}
	}
	return uid
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return atomicfile.Replace(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// abort undoes a failed create: kill whatever runs in the cgroup, then
// remove the cgroup and the state dir.
func (c *Container) abort(cg *cgroups.Manager, pid int) {
	if pid > 0 {
		killPid(pid)
	}
	killCgroup(cg)
	_ = cg.Destroy()
	c.Close()
	_ = os.RemoveAll(c.dir)
}

// killCgroup SIGKILLs every process in the cgroup until it is empty. The
// cgroup is frozen while the signals go out, so that a fork bomb cannot
// outrun them.
func killCgroup(cg *cgroups.Manager) {
	for i := 0; i < 100; i++ {
		pids, err := cg.Pids()
		if err != nil || len(pids) == 0 {
			return
		}
		_ = signalCgroup(cg, unix.SIGKILL)
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
}

// waitExit reaps pid if it is our child, or waits for it to vanish.
func waitExit(pid int, timeout time.Duration) bool {
	reap := func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
	// A pidfd becomes readable when the process exits, child of ours or
	// not: no polling loop.
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err == nil {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(timeout)
		for {
			n, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n == 0 {
				return false
			}
			reap()
			return true
		}
	}
	// No pidfd (kernel < 5.3): poll.
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if wpid == pid {
			return true
		}
		if errors.Is(err, unix.ECHILD) {
			if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) || procfs.Zombie(pid) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dialConsole connects to the caller's console socket; the child sends
// the pty master over it.
func dialConsole(path string) (*os.File, error) {
	f, err := dialUnix(path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

// dialUnix connects a stream socket to path.
func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect to %q: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// nsConfig is what nsenter.c is told to do.
type nsConfig struct {
	join     [][2]string // type, path
	newFlags int
	timens   *[4]int64
	userMaps func(pid int) error
	fork     bool
}

// newNamespaces turns the spec's namespaces into nsenter's instructions.
func newNamespaces(s *specs.Spec) nsConfig {
	var ns nsConfig
	for _, n := range s.Linux.Namespaces {
		if n.Path != "" {
			ns.join = append(ns.join, [2]string{string(n.Type), n.Path})
			continue
		}
		ns.newFlags |= namespaces.CloneFlag(n.Type)
	}
	if ns.newFlags&unix.CLONE_NEWUSER != 0 {
		l := s.Linux
		deny := spec.SetgroupsDenied(s)
		ns.userMaps = func(pid int) error { return writeIDMaps(pid, l.UIDMappings, l.GIDMappings, deny) }
	}
	if ns.newFlags&unix.CLONE_NEWTIME != 0 {
		var off [4]int64
		if o, ok := s.Linux.TimeOffsets["monotonic"]; ok {
			off[0], off[1] = o.Secs, int64(o.Nanosecs)
		}
		if o, ok := s.Linux.TimeOffsets["boottime"]; ok {
			off[2], off[3] = o.Secs, int64(o.Nanosecs)
		}
		ns.timens = &off
	}
	return ns
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping, denySetgroups bool) error {
	if err := writeIDMap(pid, "uid_map", uids, os.Geteuid()); err != nil {
		return fmt.Errorf("linux.uidMappings: %w", err)
	}
	if denySetgroups {
		// Must precede gid_map: afterwards the kernel refuses the change.
		if err := procfs.DenySetgroups(pid); err != nil {
			return fmt.Errorf("annotations[%q]: write setgroups: %w", spec.SetgroupsAnnotation, err)
		}
	}
	if err := writeIDMap(pid, "gid_map", gids, os.Getegid()); err != nil {
		return fmt.Errorf("linux.gidMappings: %w", err)
	}
	return nil
}

// writeIDMap writes one id map of process pid. Root writes any map; an
// unprivileged caller writes the map of its own id alone itself, and
// anything more (its /etc/subuid or /etc/subgid ranges) through the
// setuid helpers newuidmap/newgidmap, which check those files.
func writeIDMap(pid int, file string, ms []specs.LinuxIDMapping, own int) error {
	var b strings.Builder
	var args []string
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	if os.Geteuid() == 0 || (len(ms) == 1 && int(ms[0].HostID) == own && ms[0].Size == 1) {
		if err := procfs.WriteIDMap(pid, file, []byte(b.String())); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		return nil
	}
	return rootless.MapIDs(pid, file, args)
}

type childOptions struct {
	preserve                int
	fifo, console, listener *os.File
	stdin, stdout, stderr   *os.File
	exe                     string // the sealed runtime binary (sealedExe.path)
	// dir is the child's working directory: the rootfs for a new
	// container. Entered here as host root, before nsenter.c makes the
	// namespaces, it is how the init reaches a rootfs below
	// directories its user-namespaced root cannot search (see
	// rootfs.Prepare).
	dir string
	// idmapRootfs, if set, is a rootfs to clone idmapped to the new
	// user namespace as soon as its id maps exist.
	idmapRootfs string
	// enterCgroup puts the child in its cgroup before any namespace is
	// made (so a new cgroup namespace is rooted there).
	enterCgroup func(pid int) error
	spec        *specs.Spec
	nsConfig    nsConfig
}

type child struct {
	pid                           int
	conn                          *initproc.Conn
	sock                          *os.File
	cmd                           *exec.Cmd
	fifoFD, consoleFD, listenerFD int
	idmapped                      *os.File // the idmapped rootfs tree, sent after the config
}

func (p *child) exitErr(err error) error {
	if p.cmd != nil && p.cmd.ProcessState != nil {
		return fmt.Errorf("%s", p.cmd.ProcessState)
	}
	return err
}

// Close releases the parent's end of the sync socket.
func (p *child) Close() {
	p.sock.Close()
	if p.idmapped != nil {
		p.idmapped.Close()
	}
}

// sendIdmapped hands the idmapped rootfs tree to the child, which expects
// it right after its config.
func (p *child) sendIdmapped() error {
	if p.idmapped == nil {
		return nil
	}
	if err := unix.Sendmsg(int(p.sock.Fd()), []byte{0}, unix.UnixRights(int(p.idmapped.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send idmapped rootfs to container init: %w", err)
	}
	return nil
}

// startChild starts `tirith init` through nsenter.c and walks it into its
// namespaces: cgroup first (so that a new cgroup namespace is rooted at
// the container's cgroup), then joins, then the user namespace's id maps,
// then the rest.
func startChild(o childOptions) (*child, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer childSock.Close()

	// The child's fds: stdio, the preserved fds 3..3+N-1 exactly where
	// they are in ours, then the runtime's own.
	var extra []*os.File
	for i := 0; i < o.preserve; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	syncFD := 3 + len(extra)
	extra = append(extra, childSock)
	p := &child{sock: parentSock, conn: initproc.NewConn(parentSock), fifoFD: -1, consoleFD: -1, listenerFD: -1}
	if o.fifo != nil {
		p.fifoFD = 3 + len(extra)
		extra = append(extra, o.fifo)
	}
	if o.console != nil {
		p.consoleFD = 3 + len(extra)
		extra = append(extra, o.console)
	}
	if o.listener != nil {
		p.listenerFD = 3 + len(extra)
		extra = append(extra, o.listener)
	}
	cmd := exec.Command(o.exe, "init")
	// ps shows "tirith init", as runc's shows "runc init", not the
	// sealed binary's /proc/PID/fd path.
	cmd.Args[0] = "tirith"
	cmd.Dir = o.dir
	// The init does one thing at a time: one P spares it thread start-up
	// and scheduler churn. The payload gets its own env from the spec.
	cmd.Env = []string{nsenter.EnvSyncFD + "=" + strconv.Itoa(syncFD), "GOMAXPROCS=1"}
	cmd.ExtraFiles = extra
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orStd(o.stdin, os.Stdin), orStd(o.stdout, os.Stdout), orStd(o.stderr, os.Stderr)
	// No Pdeathsig: the init must outlive `create`. If the runtime dies
	// mid-setup, the child reads EOF on the sync socket and exits.
	if err := cmd.Start(); err != nil {
		parentSock.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	p.cmd = cmd
	p.pid = cmd.Process.Pid
	fail := func(err error) (*child, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		parentSock.Close()
		return p, err
	}
	if err := o.enterCgroup(p.pid); err != nil {
		return fail(fmt.Errorf("wall 6 (resources): %w", err))
	}
	CrashPoint("after-cgroup")
	var b strings.Builder
	for _, j := range o.nsConfig.join {
		fmt.Fprintf(&b, "join %s %s\n", j[0], j[1])
	}
	if o.nsConfig.newFlags != 0 {
		fmt.Fprintf(&b, "new %d\n", o.nsConfig.newFlags)
	}
	if t := o.nsConfig.timens; t != nil {
		fmt.Fprintf(&b, "timens %d %d %d %d\n", t[0], t[1], t[2], t[3])
	}
	if o.nsConfig.fork {
		b.WriteString("fork\n")
	}
	b.WriteString("end\n")
	if _, err := parentSock.WriteString(b.String()); err != nil {
		return fail(fmt.Errorf("configure namespaces: %w", err))
	}
	r := p.conn.Reader()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			_ = cmd.Wait()
			return fail(fmt.Errorf("container init died while entering namespaces (%s)", cmd.ProcessState))
		}
		line = strings.TrimSuffix(line, "\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch verb {
		case "usermap":
			if o.nsConfig.userMaps == nil {
				return fail(errors.New("nsenter asked for id maps that were not configured"))
			}
			if err := o.nsConfig.userMaps(p.pid); err != nil {
				return fail(err)
			}
			if o.idmapRootfs != "" {
				tree, err := rootfs.IdmappedTree(o.idmapRootfs, procfs.NS(p.pid, "user"))
				if err != nil {
					return fail(fmt.Errorf("annotations[%q]: %w", rootfs.IdmapAnnotation, err))
				}
				p.idmapped = tree
			}
			if _, err := parentSock.WriteString("ok\n"); err != nil {
				return fail(err)
			}
			continue
		case "pid":
			pid, err := strconv.Atoi(arg)
			if err != nil {
				return fail(fmt.Errorf("nsenter: bad pid %q", arg))
			}
			if pid != p.pid {
				// nsenter forked into the pid namespace; its
				// first stage exits now.
				_ = cmd.Wait()
				p.pid = pid
			}
			return p, nil
		case "error":
			return fail(errors.New(arg))
		default:
			return fail(fmt.Errorf("nsenter: unexpected %q", line))
		}
	}
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}
