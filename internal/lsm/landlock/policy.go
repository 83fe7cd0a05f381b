// Package landlock applies a Landlock policy (wall 4) to the container's
// payload: filesystem access limited to the paths listed, optionally TCP
// ports and IPC scoping, best effort across the kernel's ABI versions.
//
// runtime-spec has no Landlock field yet, so the policy comes from the
// annotation io.github.tirith.landlock (see Policy). It is applied by the
// container's init after pivot_root, to the thread that then execs: the
// payload inherits the domain. We call the syscalls directly rather than
// through go-landlock, whose all-threads restriction needs libcap's psx
// and extra cgo linker flags; one thread is all an execve needs.
package landlock

import (
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Annotation is the config.json annotation that carries the policy.
const Annotation = "io.github.tirith.landlock"

// Policy is the annotation's JSON value, e.g.
//
//	{"readOnly": ["/"], "execute": ["/"], "noExecute": ["/tmp", "/dev"],
//	 "readWrite": ["/tmp", "/dev"], "bindTCP": [8080], "connectTCP": [],
//	 "scope": ["abstract-unix-socket", "signal"]}
//
// Paths not under a listed one cannot be opened at all. readOnly paths may
// be read; execute paths may be read and executed; readWrite paths may be
// read, written, created and removed. Landlock rules only add rights, so a
// file can be executed only beneath an execute path: keep writable paths
// out of them and nothing the container writes can run. noExecute carves
// paths out of the execute paths above them: nothing beneath a noExecute
// path is executable (it stays readable), except beneath an execute path
// that lies deeper still. Restrict expands this into rules when it runs,
// against the filesystem it then sees (see walkExecute). bindTCP and
// connectTCP, when present (even empty), restrict TCP to those ports (ABI
// 4+). scope isolates abstract unix sockets and signals from outside the
// container's domain (ABI 6+).
type Policy struct {
	ReadOnly   []string `json:"readOnly,omitempty"`
	Execute    []string `json:"execute,omitempty"`
	NoExecute  []string `json:"noExecute,omitempty"`
	ReadWrite  []string `json:"readWrite,omitempty"`
	BindTCP    []uint16 `json:"bindTCP,omitempty"`
	ConnectTCP []uint16 `json:"connectTCP,omitempty"`
	Scope      []string `json:"scope,omitempty"`
	// netHandled records whether either port list was present.
	netHandled bool
}

// Parse decodes the annotation, refusing unknown fields: a typo must not
// silently widen what the container may do.
func Parse(s string) (*Policy, error) {
	var raw struct {
		ReadOnly   []string  `json:"readOnly"`
		Execute    []string  `json:"execute"`
		NoExecute  []string  `json:"noExecute"`
		ReadWrite  []string  `json:"readWrite"`
		BindTCP    *[]uint16 `json:"bindTCP"`
		ConnectTCP *[]uint16 `json:"connectTCP"`
		Scope      []string  `json:"scope"`
	}
	if err := fieldTwice(s); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", Annotation, err)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", Annotation, err)
	}
	p := &Policy{ReadOnly: raw.ReadOnly, Execute: raw.Execute, NoExecute: raw.NoExecute, ReadWrite: raw.ReadWrite, Scope: raw.Scope}
	if raw.BindTCP != nil {
		p.BindTCP, p.netHandled = *raw.BindTCP, true
	}
	if raw.ConnectTCP != nil {
		p.ConnectTCP, p.netHandled = *raw.ConnectTCP, true
	}
	for _, l := range []struct {
		field string
		paths []string
	}{{"readOnly", p.ReadOnly}, {"execute", p.Execute}, {"noExecute", p.NoExecute}, {"readWrite", p.ReadWrite}} {
		for i, path := range l.paths {
			if len(path) == 0 || path[0] != '/' {
				return nil, fmt.Errorf("annotation %s: %s[%d] %q: path must be absolute", Annotation, l.field, i, path)
			}
		}
	}
	for _, sc := range p.Scope {
		if _, ok := scopes[sc]; !ok {
			return nil, fmt.Errorf("annotation %s: unknown scope %q (want abstract-unix-socket or signal)", Annotation, sc)
		}
	}
	return p, nil
}

var fieldNames = []string{"readOnly", "execute", "noExecute", "readWrite", "bindTCP", "connectTCP", "scope"}

// fieldTwice refuses a field given twice: encoding/json matches keys
// case-insensitively and keeps the last, so a trailing "noexecute": []
// would silently undo the "noExecute" a reader sees first. Anything that
// is not an object is left to the decoder to report.
func fieldTwice(s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
		for _, f := range fieldNames {
			if strings.EqualFold(key, f) {
				if prev, ok := seen[f]; ok {
					return fmt.Errorf("field %q given twice (as %q and %q)", f, prev, key)
				}
				seen[f] = key
			}
		}
	}
	return nil
}

// String renders the policy as its annotation value.
func (p *Policy) String() string {
	out := struct {
		ReadOnly   []string  `json:"readOnly,omitempty"`
		Execute    []string  `json:"execute,omitempty"`
		NoExecute  []string  `json:"noExecute,omitempty"`
		ReadWrite  []string  `json:"readWrite,omitempty"`
		BindTCP    *[]uint16 `json:"bindTCP,omitempty"`
		ConnectTCP *[]uint16 `json:"connectTCP,omitempty"`
		Scope      []string  `json:"scope,omitempty"`
	}{ReadOnly: p.ReadOnly, Execute: p.Execute, NoExecute: p.NoExecute, ReadWrite: p.ReadWrite, Scope: p.Scope}
	if p.netHandled || p.BindTCP != nil || p.ConnectTCP != nil {
		b, c := append([]uint16{}, p.BindTCP...), append([]uint16{}, p.ConnectTCP...)
		out.BindTCP, out.ConnectTCP = &b, &c
	}
	data, _ := json.Marshal(out)
	return string(data)
}

var scopes = map[string]uint64{
	"abstract-unix-socket": unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET,
	"signal":               unix.LANDLOCK_SCOPE_SIGNAL,
}
