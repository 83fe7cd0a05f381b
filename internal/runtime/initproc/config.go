package initproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// Kinds of child.
const (
	KindInit = "init" // a new container's first process
	KindExec = "exec" // a process joining a running container
)

// Config is everything the child needs, sent by the parent as one JSON
// line once the child is in its namespaces. Paths in Spec are absolute.
type Config struct {
	Kind         string         `json:"kind"`
	ID           string         `json:"id"`
	Spec         *specs.Spec    `json:"spec"`
	Process      *specs.Process `json:"process"`
	NoPivot      bool           `json:"noPivot,omitempty"`
	NoNewKeyring bool           `json:"noNewKeyring,omitempty"`
	// CgroupPaths maps each cgroup controller to the container's
	// directory on the host ("" is the unified hierarchy).
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	UserNS      bool              `json:"userNS,omitempty"`
	CgroupNS    bool              `json:"cgroupNS,omitempty"`
	Setgroups   bool              `json:"setgroups"`
	// File descriptors, as numbered in the child.
	PreserveFDs int `json:"preserveFDs"`
	FifoFD      int `json:"fifoFD"`    // exec fifo (init only), else -1
	ConsoleFD   int `json:"consoleFD"` // console socket, else -1
	// Seccomp is the compiled filter (wall 3), nil for none.
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// ListenerFD is a connection to linux.seccomp.listenerPath that
	// receives the notify fd, else -1.
	ListenerFD int `json:"listenerFD"`
	// State is what createContainer and startContainer hooks receive.
	State specs.State `json:"state"`
}

// Message is a line from the child to the parent or back.
type Message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
}

// Message types.
const (
	MsgHooks     = "hooks"      // child: run prestart/createRuntime hooks now
	MsgHooksDone = "hooks-done" // parent: they ran
	MsgReady     = "ready"      // child: all set, waiting to exec
	MsgError     = "error"      // child: failed, with Error
)

// Conn frames messages on the sync socket.
type Conn struct {
	r     *bufio.Reader
	w     io.Writer
	ready bool // "ready" was sent: the parent no longer listens
}

// NewConn wraps the sync socket. The reader must be the only one on rw.
func NewConn(rw io.ReadWriter) *Conn { return &Conn{r: bufio.NewReader(rw), w: rw} }

// Reader exposes the buffered reader, for the nsenter line protocol that
// precedes the JSON messages.
func (c *Conn) Reader() *bufio.Reader { return c.r }

// Send writes v as one JSON line.
func (c *Conn) Send(v any) error {
	if m, ok := v.(Message); ok && m.Type == MsgReady {
		c.ready = true
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.w.Write(append(data, '\n'))
	return err
}

// Recv reads one JSON line into v.
func (c *Conn) Recv(v any) error {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("decode sync message: %w", err)
	}
	return nil
}
