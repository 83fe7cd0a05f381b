package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/exitcode"
	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/spec"
)

// ErrRunning is returned by Remove for a running container without force.
var ErrRunning = errors.New("container is running")

// Kill sends sig to the container's init.
func (e *Engine) Kill(q string, sig unix.Signal) error {
	rec, err := e.Lookup(q)
	if err != nil {
		return err
	}
	if rec.Status != StatusRunning {
		return fmt.Errorf("container %s is not running", rec.Name)
	}
	c, err := runtime.Load(e.Root, rec.ID)
	if err != nil {
		return fmt.Errorf("container %s: %w", rec.Name, err)
	}
	defer c.Close()
	return c.Kill(sig, false)
}

// waitExited polls the record until the container has exited (or its
// record is gone, with --rm) or timeout passes.
func (e *Engine) waitExited(id string, timeout time.Duration) (*Record, bool) {
	deadline := time.Now().Add(timeout)
	for {
		rec, err := e.readRecord(id)
		if errors.Is(err, ErrNoContainer) {
			return nil, true
		}
		if err == nil {
			e.Refresh(rec)
			if rec.Status != StatusRunning {
				return rec, true
			}
		}
		if timeout >= 0 && time.Now().After(deadline) {
			return rec, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop sends SIGTERM (or the image's stop signal), waits up to timeout,
// then SIGKILL, as `docker stop` does.
func (e *Engine) Stop(q string, timeout time.Duration) error {
	rec, err := e.Lookup(q)
	if err != nil {
		return err
	}
	if rec.Status != StatusRunning {
		return nil
	}
	if c, err := runtime.Load(e.Root, rec.ID); err == nil {
		_ = c.Kill(unix.SIGTERM, false)
		c.Close()
	}
	if _, done := e.waitExited(rec.ID, timeout); done {
		return nil
	}
	if c, err := runtime.Load(e.Root, rec.ID); err == nil {
		_ = c.Kill(unix.SIGKILL, false)
		c.Close()
	}
	if _, done := e.waitExited(rec.ID, 10*time.Second); !done {
		return fmt.Errorf("container %s did not stop after SIGKILL", rec.Name)
	}
	return nil
}

// Remove removes a container: its runtime state, mounts, secrets and
// directory. A running container needs force (it is killed first).
func (e *Engine) Remove(q string, force bool) error {
	rec, err := e.Lookup(q)
	if err != nil {
		return err
	}
	e.Refresh(rec)
	if rec.Status == StatusRunning {
		if !force {
			return fmt.Errorf("container %s: %w: stop it first or use rm -f", rec.Name, ErrRunning)
		}
		if c, err := runtime.Load(e.Root, rec.ID); err == nil {
			_ = c.Kill(unix.SIGKILL, false)
			c.Close()
		}
		// Let the monitor record the exit; it does not matter if it
		// cannot (the record goes anyway).
		e.waitExited(rec.ID, 10*time.Second)
	}
	return e.cleanup(rec.ID)
}

// Wait waits for the container to exit and returns its exit code.
func (e *Engine) Wait(ctx context.Context, q string) (int, error) {
	rec, err := e.Lookup(q)
	if err != nil {
		return -1, err
	}
	for {
		r, err := e.readRecord(rec.ID)
		if err != nil {
			return -1, fmt.Errorf("container %s was removed while waiting", rec.Name)
		}
		e.Refresh(r)
		if r.Status == StatusExited {
			return r.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Logs copies a detached container's stdout and stderr logs to out and
// errOut; with follow, until the container has exited.
func (e *Engine) Logs(ctx context.Context, q string, follow bool, out, errOut io.Writer) error {
	rec, err := e.Lookup(q)
	if err != nil {
		return err
	}
	if !rec.Detached {
		return fmt.Errorf("container %s ran in the foreground: its output went to the terminal and was not logged", rec.Name)
	}
	files := []struct {
		path string
		w    io.Writer
	}{{e.StdoutLog(rec.ID), out}, {e.StderrLog(rec.ID), errOut}}
	var fs [2]*os.File
	for i, f := range files {
		fh, err := os.Open(f.path)
		if err != nil {
			return err
		}
		defer fh.Close()
		fs[i] = fh
	}
	for {
		for i, f := range files {
			if _, err := io.Copy(f.w, fs[i]); err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		r, err := e.readRecord(rec.ID)
		if err == nil {
			e.Refresh(r)
		}
		if err != nil || r.Status != StatusRunning {
			// One last copy: what was written before the exit.
			for i, f := range files {
				if _, err := io.Copy(f.w, fs[i]); err != nil {
					return err
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ExecOptions are `tirith exec`'s flags.
type ExecOptions struct {
	Args        []string
	Interactive bool
	TTY         bool
	Env         []string
	User        string
	Workdir     string
	Stdio       Stdio
}

// Exec runs a process in a running container, as its init runs (same
// walls), and returns its exit code.
func (e *Engine) Exec(q string, o ExecOptions) (int, error) {
	rec, err := e.Lookup(q)
	if err != nil {
		return exitcode.Tirith, err
	}
	if len(o.Args) == 0 {
		return exitcode.Tirith, errors.New("exec: a command is required")
	}
	c, err := runtime.Load(e.Root, rec.ID)
	if err != nil {
		return exitcode.Tirith, fmt.Errorf("container %s is not running: %w", rec.Name, err)
	}
	base := c.Spec().Process
	p := *base
	p.Args = o.Args
	p.Terminal = o.TTY
	p.ConsoleSize = nil
	p.Env = append([]string{}, base.Env...)
	for _, kv := range o.Env {
		p.Env = append(p.Env, kv)
	}
	if o.TTY {
		p.Env = append(p.Env, "TERM=xterm")
	}
	if o.Workdir != "" {
		p.Cwd = o.Workdir
	}
	if o.User != "" {
		u, err := specgen.ResolveUser(e.rootfs(rec.ID), o.User)
		if err != nil {
			c.Close()
			return exitcode.Tirith, fmt.Errorf("--user: %w", err)
		}
		p.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
		if spec.SetgroupsDenied(c.Spec()) {
			// The container's user namespace denies setgroups (its
			// own user had no supplementary groups): nobody in it can
			// take on groups, an exec'd process included.
			p.User.AdditionalGids = nil
		}
		if u.UID != 0 && p.Capabilities != nil {
			caps := *p.Capabilities
			caps.Effective, caps.Permitted, caps.Ambient, caps.Inheritable = []string{}, []string{}, nil, nil
			p.Capabilities = &caps
		}
	}
	stdin := o.Stdio.Stdin
	if !o.Interactive {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			c.Close()
			return exitcode.Tirith, err
		}
		defer devnull.Close()
		stdin = devnull
	}
	eo := runtime.ExecOptions{Process: &p, Stdin: stdin, Stdout: o.Stdio.Stdout, Stderr: o.Stdio.Stderr}
	var console *runtime.ConsoleReceiver
	if o.TTY {
		if console, err = runtime.NewConsoleReceiver(); err != nil {
			c.Close()
			return exitcode.Tirith, err
		}
		defer console.Close()
		eo.ConsoleSocket = console.Path
	}
	proc, err := c.Exec(eo)
	c.Close()
	if err != nil {
		code := exitcode.Of(err)
		return code, &exitcode.Error{Code: code, Err: err}
	}
	restore := func() {}
	if console != nil {
		if restore, err = console.Attach(); err != nil {
			return exitcode.Tirith, err
		}
	}
	code, err := runtime.Wait(proc.Pid)
	restore()
	if err != nil {
		return exitcode.Tirith, err
	}
	return code, nil
}
