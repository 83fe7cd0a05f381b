package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/spec"
)

// Sentinel errors callers test with errors.Is. Their texts are runc's
// (libcontainer's) word for word: clients match them in runc's output
// (see "What clients read in runc's errors" in docs/oci-runtime.md).
var (
	ErrNotExist  = errors.New("container does not exist")
	ErrExist     = errors.New("container with given ID already exists")
	ErrStopped   = errors.New("container not running")
	ErrNotPaused = errors.New("container not paused")
)

// Status values (runtime-spec, plus runc's "paused").
const (
	Creating = specs.StateCreating
	Created  = specs.StateCreated
	Running  = specs.StateRunning
	Stopped  = specs.StateStopped
	Paused   = specs.ContainerState("paused")
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// State is what Tirith keeps on disk for a container.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// Pid is the container's init as seen from the host; 0 until it
	// exists. InitStart is its start time in clock ticks since boot
	// (/proc/PID/stat field 22): a recycled pid has another.
	Pid       int           `json:"pid"`
	InitStart uint64        `json:"initStart"`
	Created   time.Time     `json:"created"`
	Owner     string        `json:"owner"`
	Cgroup    cgroups.State `json:"cgroup"`
	Config    *specs.Spec   `json:"config"`
}

// Container is a container's state dir plus its loaded state.
type Container struct {
	dir   string
	State State
	lock  *os.File
}

// Dir returns the container's state directory.
func (c *Container) Dir() string { return c.dir }

func containerDir(root, id string) (string, error) {
	if err := spec.ValidateID(id); err != nil {
		return "", err
	}
	return filepath.Join(root, id), nil
}

// Load opens a container's state. The caller must call Close.
func Load(root, id string) (*Container, error) {
	dir, err := containerDir(root, id)
	if err != nil {
		return nil, err
	}
	c := &Container{dir: dir}
	if err := c.lockDir(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		c.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("read state of %q: %w", id, err)
	}
	if err := json.Unmarshal(data, &c.State); err != nil {
		c.Close()
		return nil, fmt.Errorf("state of %q is corrupt: %w", id, err)
	}
	return c, nil
}

// lockDir takes the container's lock: one lifecycle operation at a time
// per container, none across containers.
func (c *Container) lockDir() error {
	f, err := os.OpenFile(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("container %q: %w", filepath.Base(c.dir), ErrNotExist)
		}
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return os.NewSyscallError("flock", err)
	}
	c.lock = f
	return nil
}

// Close releases the container's lock.
func (c *Container) Close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// save writes the state atomically: a reader sees the old or the new
// state, never half of one.
func (c *Container) save() error {
	data, err := json.Marshal(&c.State)
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(c.dir, stateFile), data, 0o600)
}

// Status derives the container's status from the kernel, not from what was
// last written: the init may have died since.
func (c *Container) Status() specs.ContainerState {
	if c.State.Pid == 0 {
		// Written before the init existed: a create in progress, or
		// one whose runtime died; delete cleans it up either way.
		return Creating
	}
	if !c.initAlive() {
		return Stopped
	}
	if fifo, err := os.Stat(filepath.Join(c.dir, fifoName)); err == nil && c.initHolds(fifo) {
		return Created
	}
	if cg, err := cgroups.Load(c.State.Cgroup); err == nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return Paused
		}
	}
	return Running
}

// initHolds reports whether the init still has f open. The init closes
// the exec fifo once `start` wrote to it; a fifo left behind by a start
// that was killed before removing it does not make a running container
// "created". When the init's fds cannot be read it is assumed to.
func (c *Container) initHolds(f os.FileInfo) bool {
	dir := procfs.Pid(c.State.Pid, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, e := range ents {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && os.SameFile(fi, f) {
			return true
		}
	}
	return false
}

func (c *Container) initAlive() bool {
	start, err := procfs.StartTime(c.State.Pid)
	if err != nil {
		return false
	}
	return start == c.State.InitStart && !procfs.Zombie(c.State.Pid)
}

// OCIState is the runtime-spec state, with runc's extra fields that tools
// read (rootfs, created, owner).
type OCIState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// MarshalJSON writes the state as runc does, in its field order and with
// "pid" always there: 0 when there is no process (creating before the
// init's pid is known, stopped). specs.State omits a zero pid, and
// clients such as containerd's go-runc decode it into an int.
func (s OCIState) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Version     string               `json:"ociVersion"`
		ID          string               `json:"id"`
		Pid         int                  `json:"pid"`
		Status      specs.ContainerState `json:"status"`
		Bundle      string               `json:"bundle"`
		Rootfs      string               `json:"rootfs"`
		Created     time.Time            `json:"created"`
		Annotations map[string]string    `json:"annotations,omitempty"`
		Owner       string               `json:"owner"`
	}{s.Version, s.ID, s.Pid, s.Status, s.Bundle, s.Rootfs, s.Created, s.Annotations, s.Owner})
}

// OCI returns the container's runtime-spec state.
func (c *Container) OCI() OCIState {
	st := c.Status()
	s := OCIState{
		State: specs.State{
			Version: specs.Version,
			ID:      c.State.ID,
			Status:  st,
			Bundle:  c.State.Bundle,
		},
		Rootfs:  c.State.Rootfs,
		Created: c.State.Created,
		Owner:   c.State.Owner,
	}
	if st != Stopped {
		s.Pid = c.State.Pid
	}
	if c.State.Config != nil {
		s.Annotations = c.State.Config.Annotations
	}
	return s
}

// List returns the ids of every container under root, sorted.
func List(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		// Dot-dirs are the runtime's own (.exe of older versions); no id starts with one.
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && spec.ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
