package initproc

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/runtime/plan"
)

// Kinds of child.
const (
	KindInit = "init" // a new container's first process
	KindExec = "exec" // a process joining a running container
)

// Config is everything the child needs, sent by the parent as one JSON
// message once the child is in its namespaces.
type Config struct {
	Kind string `json:"kind"`
	// Plan is the container's: what a new container's init applies; for
	// an exec, the container's plan as stored (its mounts name the
	// writable ones in an exec error).
	Plan *plan.Plan `json:"plan"`
	// Process is the payload's plan: the exec'd process's (plan.ForExec)
	// for an exec; for a new container it is not sent (it is
	// Plan.Process, and its seccomp program is most of the frame) and
	// the init points it there.
	Process *plan.Process `json:"process,omitempty"`
	// BindTrees: the container's root may be unable to look up bind
	// mount sources (it is an unprivileged host uid), so once the
	// rootfs is prepared the child asks (MsgBindSources) and the
	// parent sends each bind mount's source, cloned in the child's
	// mount namespace (rootfs.CloneSource), one fd per message in plan
	// order. If it cannot, it fails the create (and kills the child).
	BindTrees bool `json:"bindTrees,omitempty"`
	// File descriptors, as numbered in the child.
	PreserveFDs int `json:"preserveFDs"`
	FifoFD      int `json:"fifoFD"`    // exec fifo (init only), else -1
	ConsoleFD   int `json:"consoleFD"` // console socket, else -1
	// ListenerFD is a connection to linux.seccomp.listenerPath that
	// receives the notify fd, else -1.
	ListenerFD int `json:"listenerFD"`
	// State is what createContainer and startContainer hooks receive.
	State specs.State `json:"state"`

	// exe is the init's own binary, open O_PATH, for the lean waiter
	// (wait.go); -1 if there is none.
	exe int
}

// Message is a line from the child to the parent or back.
type Message struct {
	Type string `json:"type"`
	// Failure comes with MsgError: what failed, typed (failure.go).
	Failure *Failure `json:"failure,omitempty"`
	// Report comes with MsgReady: what the kernel granted.
	Report *plan.Report `json:"report,omitempty"`
}

// Message types.
const (
	MsgHooks       = "hooks"        // child: run prestart/createRuntime hooks now
	MsgHooksDone   = "hooks-done"   // parent: they ran
	MsgBindSources = "bind-sources" // child: send the bind mount sources (BindTrees)
	MsgReady       = "ready"        // child: all set, waiting to exec
	MsgError       = "error"        // child: failed, with Failure
)

// Conn frames messages on the sync socket: a 4-byte big-endian length,
// then JSON. The child reads frames with exact reads, never ahead, so
// that a file descriptor the parent attaches to the next bytes
// (SCM_RIGHTS) is not lost to a buffered read.
type Conn struct {
	r     io.Reader
	br    *bufio.Reader // parent side only: nsenter's text lines come first
	w     io.Writer
	ready bool // "ready" was sent: the parent no longer listens
}

// NewConn wraps the parent's end of the sync socket. The reader must be
// the only one on rw.
func NewConn(rw io.ReadWriter) *Conn {
	br := bufio.NewReader(rw)
	return &Conn{r: br, br: br, w: rw}
}

// NewChildConn wraps the child's end: unbuffered.
func NewChildConn(rw io.ReadWriter) *Conn { return &Conn{r: rw, w: rw} }

// Reader exposes the parent's buffered reader, for the nsenter line
// protocol that precedes the JSON messages.
func (c *Conn) Reader() *bufio.Reader { return c.br }

// maxFrame bounds a message: a config with a seccomp program is tens of
// KiB.
const maxFrame = 64 << 20

// Send writes v as one frame.
func (c *Conn) Send(v any) error {
	if m, ok := v.(Message); ok && m.Type == MsgReady {
		c.ready = true
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(frame, uint32(len(data)))
	copy(frame[4:], data)
	_, err = c.w.Write(frame)
	return err
}

// Recv reads one frame into v.
func (c *Conn) Recv(v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("sync message of %d bytes is too large", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(c.r, data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode sync message: %w", err)
	}
	return nil
}
