package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/engine/idrange"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/network/portproxy"
	"github.com/tirith-project/tirith/internal/rootless"
	"github.com/tirith-project/tirith/internal/runtime"
)

// Container records: <storage>/containers/<id>/meta.json, the names
// lock that keeps names (and id ranges) unique, the per-container lock,
// lookup by name or id prefix.

// Container statuses in a record.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

// ErrNoContainer is returned for a name or id that matches no container.
var ErrNoContainer = errors.New("no such container")

// Record is a container's meta.json.
type Record struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Image       string       `json:"image"`
	ImageID     string       `json:"imageID"`
	Created     time.Time    `json:"created"`
	Cmd         []string     `json:"cmd"`
	Status      string       `json:"status"`
	Pid         int          `json:"pid,omitempty"`
	MonitorPid  int          `json:"monitorPid,omitempty"`
	Started     time.Time    `json:"started,omitzero"`
	Finished    time.Time    `json:"finished,omitzero"`
	ExitCode    int          `json:"exitCode"`
	OOMKilled   bool         `json:"oomKilled"`
	Detached    bool         `json:"detached"`
	AutoRemove  bool         `json:"autoRemove"`
	TTY         bool         `json:"tty"`
	Relaxations []Relaxation `json:"relaxations,omitempty"`
	// IDBase is the first host id of the container's user namespace
	// range (idrange.Size ids), 0 without a user namespace.
	IDBase uint32 `json:"idBase,omitempty"`
	// Secrets are the targets under /run/secrets: names, never content.
	Secrets []string `json:"secrets,omitempty"`
	// Entrypoint is the leading part of Cmd that is Docker's ENTRYPOINT
	// and User Docker's Config.User (--user, else the image's USER), for
	// inspect.
	Entrypoint []string `json:"entrypoint,omitempty"`
	User       string   `json:"user,omitempty"`
	// CapAdd, CapDrop and Seccomp are what run asked for (Built's).
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	Seccomp string   `json:"seccomp,omitempty"`
	// Hostname is the container's; Network the bridge network it is
	// on ("" for none, host and container:NAME), with its address; Ports
	// the published ports (host port 0 until the container starts).
	Hostname    string              `json:"hostname,omitempty"`
	Network     string              `json:"network,omitempty"`
	IPAddress   string              `json:"ipAddress,omitempty"`
	IPPrefixLen int                 `json:"ipPrefixLen,omitempty"`
	Gateway     string              `json:"gateway,omitempty"`
	MacAddress  string              `json:"macAddress,omitempty"`
	Ports       []portproxy.Mapping `json:"ports,omitempty"`
}

// ShortID is the first 12 characters of the id, as Docker prints it.
func (r *Record) ShortID() string { return r.ID[:12] }

// validName reports whether name matches Docker's container names,
// [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 bytes. Not a regexp: compiling
// the bounded repetition costs every start of the binary (the container
// init's too) about a millisecond.
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// flock opens path with flags and takes how (LOCK_EX, LOCK_SH) on it;
// the lock lasts until the returned file is closed.
func flock(path string, flags int, perm os.FileMode, how int) (*os.File, error) {
	f, err := os.OpenFile(path, flags|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, os.NewSyscallError("flock", err)
	}
	return f, nil
}

// exclusive takes an exclusive lock (flock) and returns its release.
func exclusive(path string, flags int, perm os.FileMode) (func(), error) {
	f, err := flock(path, flags, perm, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// lockNames serialises name allocation and removal across processes.
func (e *Engine) lockNames() (func(), error) {
	if err := os.MkdirAll(e.Storage, 0o700); err != nil {
		return nil, err
	}
	for _, d := range []string{e.Storage, e.containersDir()} {
		if err := store.PrivateDir(d); err != nil {
			return nil, err
		}
	}
	return exclusive(filepath.Join(e.containersDir(), ".names.lock"), os.O_RDWR|os.O_CREATE, 0o600)
}

// lockContainer serialises changes to one container's record and its
// cleanup (the monitor and `rm -f` may race). The lock is on the
// directory itself: taking it never creates a file, so a late `rm -f`
// cannot put one back into a directory that another is removing.
func (e *Engine) lockContainer(id string) (func(), error) {
	return exclusive(e.Dir(id), unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// newRecord claims a fresh id, a unique name and, with userns, a range
// of host ids of its own, and creates the container's directory.
func (e *Engine) newRecord(name string, rec *Record, userns bool) error {
	unlock, err := e.lockNames()
	if err != nil {
		return fmt.Errorf("container records: %w", err)
	}
	defer unlock()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	rec.ID = hex.EncodeToString(b[:])
	if name == "" {
		name = rec.ShortID()
	} else if !validName(name) {
		return fmt.Errorf("--name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	recs, err := e.List()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Name == name {
			return fmt.Errorf("--name %q: already in use by container %s (remove it with tirith rm)", name, r.ShortID())
		}
	}
	rec.Name = name
	if userns && !rootless.Inside() {
		used := map[uint32]bool{}
		for _, r := range recs {
			used[r.IDBase] = true
		}
		if rec.IDBase, err = idrange.Alloc(e.subuid(), used); err != nil {
			return err
		}
	}
	// 0700: the container's mapped root needs no path into it (the
	// runtime hands it its rootfs and secrets), and nobody else may
	// reach what is inside.
	if err := os.Mkdir(e.Dir(rec.ID), 0o700); err != nil {
		return fmt.Errorf("create container dir: %w", err)
	}
	err = os.WriteFile(e.busyLock(rec.ID), nil, 0o600)
	if err == nil {
		err = e.writeRecord(rec)
	}
	if err != nil {
		// A directory without a record is debris nothing lists
		// (a full disk gets here): take it back.
		os.RemoveAll(e.Dir(rec.ID))
		return err
	}
	return nil
}

// writeRecord replaces meta.json atomically.
func (e *Engine) writeRecord(rec *Record) error {
	data, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.Write(e.metaPath(rec.ID), data, 0o600)
}

// update applies fn to the record under the container's lock.
func (e *Engine) update(id string, fn func(*Record)) (*Record, error) {
	unlock, err := e.lockContainer(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := e.readRecord(id)
	if err != nil {
		return nil, err
	}
	fn(rec)
	return rec, e.writeRecord(rec)
}

func (e *Engine) readRecord(id string) (*Record, error) {
	data, err := os.ReadFile(e.metaPath(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoContainer, id)
		}
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("record of container %s is corrupt: %w", id, err)
	}
	return &r, nil
}

// List returns every container record, newest first. Directories
// without a record (a create that crashed before writing one) are
// skipped.
func (e *Engine) List() ([]*Record, error) {
	ents, err := os.ReadDir(e.containersDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, d := range ents {
		if !d.IsDir() || len(d.Name()) != 64 {
			continue
		}
		r, err := e.readRecord(d.Name())
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Lookup finds a container by name, full id or unique id prefix.
func (e *Engine) Lookup(q string) (*Record, error) {
	recs, err := e.List()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Name == q || r.ID == q {
			return r, nil
		}
	}
	var match *Record
	if len(q) >= 1 && strings.Trim(q, "0123456789abcdef") == "" {
		for _, r := range recs {
			if strings.HasPrefix(r.ID, q) {
				if match != nil {
					return nil, fmt.Errorf("container %q: ambiguous id prefix", q)
				}
				match = r
			}
		}
	}
	if match == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoContainer, q)
	}
	return match, nil
}

// Refresh corrects a record's status from the world: a "running"
// container whose monitor died without recording an exit is reported as
// exited (code -1), so `ps` never shows a ghost as running.
func (e *Engine) Refresh(r *Record) {
	if r.Status != StatusRunning {
		return
	}
	if r.MonitorPid > 0 && unix.Kill(r.MonitorPid, 0) == nil {
		return
	}
	if c, err := runtime.Load(e.Root, r.ID); err == nil {
		st := c.Status()
		c.Close()
		if st == runtime.Running || st == runtime.Paused {
			return
		}
	}
	// Re-read: the monitor may just have recorded the exit.
	if fresh, err := e.readRecord(r.ID); err == nil {
		*r = *fresh
	}
	if r.Status == StatusRunning {
		// Nobody will record this exit (the monitor was killed).
		r.Status, r.ExitCode, r.Pid, r.MonitorPid = StatusExited, -1, 0, 0
	}
}
