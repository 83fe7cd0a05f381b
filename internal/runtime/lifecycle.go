package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/hooks"
	"github.com/tirith-project/tirith/internal/procfs"
)

// Start lets a created container's init exec the payload.
func (c *Container) Start() error {
	switch st := c.Status(); st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	case Running:
		return errors.New("cannot start an already running container")
	default:
		return fmt.Errorf("cannot start a container in the %s state", st)
	}
	fifo := filepath.Join(c.dir, fifoName)
	// The init is still the runtime's own image: poststart waits below
	// until it is not (the payload was executed).
	initImage, _ := os.Stat(procfs.Pid(c.State.Pid, "exe"))
	// O_NONBLOCK: if no reader holds the fifo (the init died) the open
	// fails with ENXIO instead of blocking forever.
	f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("container init is gone: %w", ErrStopped)
		}
		return err
	}
	_, err = f.Write([]byte{0})
	f.Close()
	if err != nil {
		return fmt.Errorf("signal container init to start: %w", err)
	}
	CrashPoint("after-fifo-write")
	if err := os.Remove(fifo); err != nil {
		return err
	}
	if h := c.State.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		// runtime-spec: poststart hooks run after the user-specified
		// process is executed (so after the startContainer hooks).
		c.waitPayload(initImage, h.StartContainer)
		st := c.OCI().State
		// The payload may have exited already; the hook still learns
		// which process it was.
		st.Status, st.Pid = Running, c.State.Pid
		if err := hooks.Run("poststart", h.Poststart, &st); err != nil {
			// The payload runs already; runtime-spec says warn.
			slog.Warn("poststart hook failed", "id", c.State.ID, "error", err)
		}
	}
	return nil
}

// waitPayload waits until the init has executed the payload, that is no
// longer runs the image it was created with, or is gone. A payload that is
// the runtime's own binary cannot be told apart: the wait is bounded by
// the startContainer hooks' timeouts plus a margin.
func (c *Container) waitPayload(initImage os.FileInfo, startHooks []specs.Hook) {
	if initImage == nil {
		return
	}
	limit := 10 * time.Second
	for _, h := range startHooks {
		if h.Timeout != nil {
			limit += time.Duration(*h.Timeout) * time.Second
		} else {
			limit += 30 * time.Second
		}
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && c.initAlive() {
		fi, err := os.Stat(procfs.Pid(c.State.Pid, "exe"))
		if err != nil || !os.SameFile(fi, initImage) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup. A stopped container is ErrStopped, runc's "container not
// running", which containerd's shim reads as "already exited"; with all,
// as in runc 1.2, it is no error and what is left in the cgroup (a
// container without a pid namespace of its own) still gets the signal.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	st := c.Status()
	if all {
		cg, err := cgroups.Load(c.State.Cgroup)
		if err != nil {
			if st == Stopped {
				return nil
			}
			return err
		}
		if err := signalCgroup(cg, sig); err != nil && st != Stopped {
			return err
		}
		return nil
	}
	if st == Stopped || st == Creating && c.State.Pid == 0 {
		return ErrStopped
	}
	if err := unix.Kill(c.State.Pid, sig); err != nil {
		return fmt.Errorf("unable to signal init: %w", err)
	}
	return nil
}

// signalCgroup signals every process of a cgroup. It freezes the cgroup
// first where it can, so that nothing forks away from the signal.
func signalCgroup(cg *cgroups.Manager, sig unix.Signal) error {
	frozen := cg.Freeze() == nil
	pids, err := cg.Pids()
	if err == nil {
		for _, p := range pids {
			_ = unix.Kill(p, sig)
		}
	}
	if frozen {
		_ = cg.Thaw()
	}
	return err
}

// DeleteOptions are `delete`'s flags.
type DeleteOptions struct{ Force bool }

// Delete removes a stopped or created container (or with Force any
// container, killing it first): its processes, cgroups and state dir.
// Poststop hooks run last. As runc, a created container needs no Force
// (containerd deletes one that never started without it).
func (c *Container) Delete(o DeleteOptions) error {
	st := c.Status()
	switch st {
	case Stopped, Creating, Created:
	default:
		if !o.Force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.State.ID, st)
		}
	}
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return err
	}
	if st != Stopped && c.State.Pid > 0 {
		if st == Paused {
			_ = cg.Thaw()
		}
		_ = unix.Kill(c.State.Pid, unix.SIGKILL)
		if !waitExit(c.State.Pid, 10*time.Second) {
			return fmt.Errorf("container init %d did not die after SIGKILL", c.State.Pid)
		}
	}
	CrashPoint("after-kill")
	// Without a pid namespace of its own, the init's death does not take
	// the rest of the container with it.
	killCgroup(cg)
	if err := cg.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	CrashPoint("after-cgroup-destroy")
	if h := c.State.Config.Hooks; h != nil {
		state := c.OCI().State
		state.Status = Stopped
		if err := hooks.Run("poststop", h.Poststop, &state); err != nil {
			slog.Warn("poststop hook failed", "id", c.State.ID, "error", err)
		}
	}
	c.Close()
	return os.RemoveAll(c.dir)
}

// RemoveDebris removes a state dir that holds no state (a create killed
// before it wrote any): `delete --force` of such an id succeeds. It takes
// the container's lock, so a create in progress (which holds it) is
// waited for and then has state.
func RemoveDebris(root, id string) error {
	dir, err := containerDir(root, id)
	if err != nil {
		return err
	}
	c := &Container{dir: dir}
	if err := c.lockDir(); err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	defer c.Close()
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return fmt.Errorf("container %q has state; delete it normally", id)
	}
	return os.RemoveAll(dir)
}

// Pids lists the container's processes as seen from the host.
func (c *Container) Pids() ([]int, error) {
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}

// Cgroup returns the container's cgroup manager.
func (c *Container) Cgroup() (*cgroups.Manager, error) { return cgroups.Load(c.State.Cgroup) }

// Spec returns the container's config as it was created.
func (c *Container) Spec() *specs.Spec { return c.State.Config }
