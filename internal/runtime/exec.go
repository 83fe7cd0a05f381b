package runtime

import (
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime/initproc"
	"github.com/tirith-project/tirith/internal/spec"
)

// ExecOptions are `exec`'s flags, once the process is resolved.
type ExecOptions struct {
	Process               *specs.Process
	ConsoleSocket         string
	PidFile               string
	PreserveFDs           int
	Stdin, Stdout, Stderr *os.File
}

// Process is a started exec'd process. Our child: the caller waits for it.
type Process struct {
	Pid int
}

// Exec starts a new process inside a running container: it joins every
// namespace the container's init is in, and its cgroup, then raises the
// same per-process walls as the init.
func (c *Container) Exec(o ExecOptions) (*Process, error) {
	switch st := c.Status(); st {
	case Running, Created:
	case Paused:
		return nil, errors.New("cannot exec in a paused container")
	default:
		return nil, fmt.Errorf("cannot exec in a stopped container: %w", ErrStopped)
	}
	if err := spec.ValidateProcess(o.Process); err != nil {
		return nil, err
	}
	s := c.State.Config
	var ns nsConfig
	// The user namespace first is nsenter's business; here, every type
	// the container has, joined through its init.
	for _, n := range s.Linux.Namespaces {
		ns.join = append(ns.join, [2]string{string(n.Type), procfs.NS(c.State.Pid, namespaces.File(n.Type))})
	}
	ns.fork = true
	var console *os.File
	if o.Process.Terminal {
		if o.ConsoleSocket == "" {
			return nil, errors.New("process.terminal is set: --console-socket is required")
		}
		var err error
		if console, err = dialConsole(o.ConsoleSocket); err != nil {
			return nil, err
		}
		defer console.Close()
	}
	// An exec'd process is under the container's walls as its plan
	// holds them: its Landlock policy and its compiled filter, reused.
	pl, err := c.plan()
	if err != nil {
		return nil, err
	}
	proc, err := pl.ForExec(o.Process)
	if err != nil {
		return nil, err
	}
	listener, err := dialListener(s, proc.Seccomp)
	if err != nil {
		return nil, err
	}
	if listener != nil {
		defer listener.Close()
	}
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return nil, err
	}
	exe, err := sealExe()
	if err != nil {
		return nil, err
	}
	p, err := startChild(childOptions{
		exe: exe.path, preserve: o.PreserveFDs, console: console, listener: listener,
		stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr,
		enterCgroup: cg.Join, spec: s, nsConfig: ns,
	})
	exe.Close()
	if err != nil {
		return nil, err
	}
	defer p.Close()
	// A live init could have been replaced between our check and the
	// setns: make sure the pid we joined through is still it.
	if !c.initAlive() {
		killPid(p.pid)
		return nil, fmt.Errorf("container init exited during exec: %w", ErrStopped)
	}
	cfg := &initproc.Config{
		Kind: initproc.KindExec, Plan: pl, Process: proc,
		PreserveFDs: o.PreserveFDs, FifoFD: -1, ConsoleFD: p.consoleFD, ListenerFD: p.listenerFD,
	}
	if err := p.conn.Send(cfg); err != nil {
		killPid(p.pid)
		return nil, fmt.Errorf("send config to exec process: %w", err)
	}
	var m initproc.Message
	if err := p.conn.Recv(&m); err != nil {
		killPid(p.pid)
		return nil, fmt.Errorf("exec process died during setup: %w", err)
	}
	switch m.Type {
	case initproc.MsgReady:
	case initproc.MsgError:
		waitExit(p.pid, 5*time.Second)
		return nil, initError(m)
	default:
		killPid(p.pid)
		return nil, fmt.Errorf("unexpected message %q from exec process", m.Type)
	}
	// The child's end of the sync socket is close-on-exec: EOF means the
	// payload is running, so the caller (exec --detach, --pid-file) sees
	// the process, not the runtime, behind the pid. A late failure
	// (seccomp, execve) comes as an error message instead.
	if err := p.conn.Recv(&m); err == nil && m.Type == initproc.MsgError {
		waitExit(p.pid, 5*time.Second)
		return nil, initError(m)
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, p.pid); err != nil {
			return nil, err
		}
	}
	return &Process{Pid: p.pid}, nil
}

// killPid SIGKILLs pid and waits (a little) for it to be gone.
func killPid(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	waitExit(pid, 5*time.Second)
}
