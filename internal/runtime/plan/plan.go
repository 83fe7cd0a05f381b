// Package plan turns a container's config.json and the host's facts into
// a Plan: every decision the container's init applies, resolved before the
// init starts, as plain data. The init applies it step by step (see
// initproc); the runtime stores it with the container's state, so what
// `tirith inspect` reports is what was enforced, and `exec` reuses it (the
// compiled seccomp filter included) instead of reading the spec again.
//
// Build is a pure function: no syscalls, no files, so every decision is
// table-tested without root.
package plan

import (
	"fmt"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/spec"
)

// Version is the Plan format; a runtime refuses a stored plan of another.
const Version = 1

// Plan is what the init of a new container does, in the order it does it.
type Plan struct {
	Version int    `json:"version"`
	ID      string `json:"id"`

	// Walls 1 and 5: the namespaces nsenter.c joins and creates, and the
	// user namespace's id maps, which the runtime writes.
	Namespaces Namespaces `json:"namespaces"`
	// Wall 6: the container's cgroup, which the runtime joined it to,
	// and the limits it set there (kept current by `update`).
	Cgroup    Cgroup                `json:"cgroup"`
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	// Wall 7: the root, then the mounts in config.json's order, then /dev.
	Rootfs   Rootfs              `json:"rootfs"`
	Mounts   []rootfs.Op         `json:"mounts,omitempty"`
	SetupDev bool                `json:"setupDev"`
	Devices  []specs.LinuxDevice `json:"devices,omitempty"`
	// Hooks the init runs itself (the others run in the runtime).
	Hooks Hooks `json:"hooks"`
	// Wall 5: what the new uts, ipc and net namespaces hold.
	Hostname   string   `json:"hostname,omitempty"`
	Domainname string   `json:"domainname,omitempty"`
	Sysctls    []Sysctl `json:"sysctls,omitempty"`
	Loopback   bool     `json:"loopback,omitempty"`
	// Wall 7, after pivot_root.
	ReadonlyPaths []string `json:"readonlyPaths,omitempty"`
	MaskedPaths   []string `json:"maskedPaths,omitempty"`
	MountLabel    string   `json:"mountLabel,omitempty"`
	// SessionKeyring is the name of the keyring the init joins ("" keeps
	// the runtime's: --no-new-keyring).
	SessionKeyring string `json:"sessionKeyring,omitempty"`
	// Process is the payload and its per-process walls (2, 3, 4).
	Process Process `json:"process"`
}

// Namespaces are walls 1 and 5 as nsenter.c applies them.
type Namespaces struct {
	// New are created, Join are entered by path (checked to be of their
	// type by the runtime).
	New  []specs.LinuxNamespaceType `json:"new,omitempty"`
	Join []Join                     `json:"join,omitempty"`
	// UIDMappings and GIDMappings of a new user namespace.
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	// TimeOffsets of a new time namespace.
	TimeOffsets map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`
}

// Join is a namespace entered by path.
type Join struct {
	Type specs.LinuxNamespaceType `json:"type"`
	Path string                   `json:"path"`
}

// Has says whether the container has a namespace of type t, new or joined.
func (n Namespaces) Has(t specs.LinuxNamespaceType) bool {
	for _, x := range n.New {
		if x == t {
			return true
		}
	}
	for _, j := range n.Join {
		if j.Type == t {
			return true
		}
	}
	return false
}

// NewUserNS says whether the container gets a user namespace of its own.
func (n Namespaces) NewUserNS() bool {
	for _, x := range n.New {
		if x == specs.UserNamespace {
			return true
		}
	}
	return false
}

// Cgroup is the container's place in the cgroup hierarchies.
type Cgroup struct {
	// Paths maps each controller (v1) or "" (unified) to the container's
	// directory on the host.
	Paths map[string]string `json:"paths,omitempty"`
	// Namespace: the container has a cgroup namespace of its own.
	Namespace bool `json:"namespace,omitempty"`
}

// Rootfs is how the root is set up and left read-only.
type Rootfs struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
	// Propagation is linux.rootfsPropagation as mount flags (0: rslave).
	Propagation uintptr `json:"propagation,omitempty"`
	// Idmapped: the runtime sends an idmapped clone of the rootfs.
	Idmapped bool `json:"idmapped,omitempty"`
	// NoPivot is --no-pivot: move the root and chroot.
	NoPivot bool `json:"noPivot,omitempty"`
}

// Hooks are the OCI hooks the init runs: createContainer before
// pivot_root, startContainer after `start`, before execve.
type Hooks struct {
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	StartContainer  []specs.Hook `json:"startContainer,omitempty"`
	// Runtime says whether the runtime must run prestart and
	// createRuntime hooks while the init waits.
	Runtime bool `json:"runtime,omitempty"`
}

// Sysctl is one linux.sysctl entry; they are applied sorted by key.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Process is the payload and the walls raised on its own thread.
type Process struct {
	Args     []string `json:"args"`
	Env      []string `json:"env,omitempty"`
	Cwd      string   `json:"cwd"`
	Terminal bool     `json:"terminal,omitempty"`
	// ConsoleSize is the pty's size at start.
	ConsoleSize *specs.Box `json:"consoleSize,omitempty"`
	// Walls 1 and 2: who the payload is and what it may do.
	User            specs.User               `json:"user"`
	Setgroups       bool                     `json:"setgroups"`
	Capabilities    *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	NoNewPrivileges bool                     `json:"noNewPrivileges"`
	Rlimits         []specs.POSIXRlimit      `json:"rlimits,omitempty"`
	OOMScoreAdj     *int                     `json:"oomScoreAdj,omitempty"`
	IOPriority      *specs.LinuxIOPriority   `json:"ioPriority,omitempty"`
	Scheduler       *specs.Scheduler         `json:"scheduler,omitempty"`
	// Wall 4: labels the LSMs give the payload at execve, and Landlock.
	ApparmorProfile string           `json:"apparmorProfile,omitempty"`
	SelinuxLabel    string           `json:"selinuxLabel,omitempty"`
	Landlock        *landlock.Policy `json:"landlock,omitempty"`
	// Wall 3, installed last.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
}

// Seccomp is the compiled filter and what the init needs to hand a
// notify listener its fd.
type Seccomp struct {
	Program *seccomp.Program `json:"program"`
	// DefaultAction and Rules describe the profile it was compiled from.
	DefaultAction string `json:"defaultAction"`
	Rules         int    `json:"rules"`
	// ListenerMetadata goes to the listener with the notify fd.
	ListenerMetadata string `json:"listenerMetadata,omitempty"`
}

// Facts are what Build needs from the host and the command line.
type Facts struct {
	ID string
	// Arch is the GOARCH the seccomp filter is compiled for.
	Arch string
	// CgroupPaths are the container's cgroup directories.
	CgroupPaths  map[string]string
	NoPivot      bool
	NoNewKeyring bool
}

// Build resolves a validated spec (spec.Validate) into the Plan. Bind
// sources must already be absolute (relative ones are the bundle's).
func Build(s *specs.Spec, f Facts) (*Plan, error) {
	if s.Root == nil || s.Process == nil || s.Linux == nil {
		return nil, fmt.Errorf("config.json: root, process and linux are required")
	}
	l := s.Linux
	p := &Plan{Version: Version, ID: f.ID}
	for _, n := range l.Namespaces {
		if n.Path != "" {
			p.Namespaces.Join = append(p.Namespaces.Join, Join{Type: n.Type, Path: n.Path})
		} else {
			p.Namespaces.New = append(p.Namespaces.New, n.Type)
		}
	}
	if p.Namespaces.NewUserNS() {
		p.Namespaces.UIDMappings, p.Namespaces.GIDMappings = l.UIDMappings, l.GIDMappings
	}
	if p.Namespaces.Has(specs.TimeNamespace) {
		p.Namespaces.TimeOffsets = l.TimeOffsets
	}
	p.Cgroup = Cgroup{Paths: f.CgroupPaths, Namespace: p.Namespaces.Has(specs.CgroupNamespace)}
	p.Resources = l.Resources

	prop, ok := rootfs.ParsePropagation(l.RootfsPropagation)
	if l.RootfsPropagation != "" && !ok {
		return nil, fmt.Errorf("linux.rootfsPropagation: unknown %q", l.RootfsPropagation)
	}
	p.Rootfs = Rootfs{
		Path: s.Root.Path, Readonly: s.Root.Readonly, Propagation: prop,
		Idmapped: s.Annotations[rootfs.IdmapAnnotation] == "true", NoPivot: f.NoPivot,
	}
	for _, m := range s.Mounts {
		p.Mounts = append(p.Mounts, rootfs.OpOf(m))
	}
	p.SetupDev = needsDevSetup(s.Mounts)
	p.Devices = l.Devices
	if s.Hooks != nil {
		p.Hooks.CreateContainer, p.Hooks.StartContainer = s.Hooks.CreateContainer, s.Hooks.StartContainer
		//nolint:staticcheck // Prestart is deprecated but still honoured.
		p.Hooks.Runtime = len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0
	}
	p.Hostname, p.Domainname = s.Hostname, s.Domainname
	for k, v := range l.Sysctl {
		p.Sysctls = append(p.Sysctls, Sysctl{Key: k, Value: v})
	}
	sort.Slice(p.Sysctls, func(i, j int) bool { return p.Sysctls[i].Key < p.Sysctls[j].Key })
	p.Loopback = s.Annotations[network.LoopbackAnnotation] == "up"
	p.ReadonlyPaths, p.MaskedPaths, p.MountLabel = l.ReadonlyPaths, l.MaskedPaths, l.MountLabel
	if !f.NoNewKeyring {
		// A session keyring of the container's own: it cannot read
		// the keys of the runtime's session.
		p.SessionKeyring = "_ses." + f.ID
	}

	var filter *Seccomp
	if l.Seccomp != nil {
		if err := seccomp.Validate(l.Seccomp); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
		prog, err := seccomp.Compile(l.Seccomp, f.Arch)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
		filter = &Seccomp{Program: prog, DefaultAction: string(l.Seccomp.DefaultAction), Rules: len(l.Seccomp.Syscalls), ListenerMetadata: l.Seccomp.ListenerMetadata}
	}
	var pol *landlock.Policy
	if v, ok := s.Annotations[landlock.Annotation]; ok {
		var err error
		if pol, err = landlock.Parse(v); err != nil {
			return nil, err
		}
	}
	proc, err := process(s.Process, !spec.SetgroupsDenied(s), pol, filter)
	if err != nil {
		return nil, err
	}
	p.Process = *proc
	return p, nil
}

// ForExec is the plan of a process joining the container: the walls of
// its own process fields, under the container's Landlock policy and its
// compiled seccomp filter (the stored one: nothing is recompiled).
func (p *Plan) ForExec(proc *specs.Process) (*Process, error) {
	return process(proc, p.Process.Setgroups, p.Process.Landlock, p.Process.Seccomp)
}

func process(sp *specs.Process, setgroups bool, pol *landlock.Policy, filter *Seccomp) (*Process, error) {
	if len(sp.Args) == 0 {
		return nil, fmt.Errorf("process.args: must not be empty")
	}
	p := &Process{
		Args: sp.Args, Env: sp.Env, Cwd: filepath.Clean(sp.Cwd), Terminal: sp.Terminal, ConsoleSize: sp.ConsoleSize,
		User: sp.User, Setgroups: setgroups, Capabilities: sp.Capabilities, NoNewPrivileges: sp.NoNewPrivileges,
		Rlimits: sp.Rlimits, OOMScoreAdj: sp.OOMScoreAdj, IOPriority: sp.IOPriority, Scheduler: sp.Scheduler,
		ApparmorProfile: sp.ApparmorProfile, SelinuxLabel: sp.SelinuxLabel, Landlock: pol, Seccomp: filter,
	}
	if !setgroups {
		// Nobody in a user namespace that denies setgroups can take on
		// groups, an exec'd process included.
		p.User.AdditionalGids = nil
	}
	return p, nil
}

// needsDevSetup: the runtime populates /dev unless the spec bind-mounts
// one from elsewhere (runc's rule); the last mount on /dev is the one
// the container sees.
func needsDevSetup(mounts []specs.Mount) bool {
	setup := true
	for _, m := range mounts {
		if filepath.Clean(m.Destination) == "/dev" {
			setup = !rootfs.ParseOptions(m.Options).Bind
		}
	}
	return setup
}

// Report is what the init found the kernel had granted once the walls
// before seccomp were up (the filter itself is installed after `start`,
// right before execve, and nothing can be reported from under it).
type Report struct {
	// Landlock is what the kernel enforced of the policy: nil when the
	// plan has none, or the kernel has no Landlock (Unsupported).
	Landlock            *landlock.Applied `json:"landlock,omitempty"`
	LandlockUnsupported bool              `json:"landlockUnsupported,omitempty"`
	// Capabilities are the payload's sets as the kernel holds them
	// before execve (the kernel recomputes them at execve for a non-root
	// user: see capabilities(7)).
	Capabilities *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges as read back with PR_GET_NO_NEW_PRIVS.
	NoNewPrivileges bool `json:"noNewPrivileges"`
	// UID and GID as the kernel has them (getresuid, getresgid: real).
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Seccomp: the program to be installed, with its size.
	SeccompInstructions int `json:"seccompInstructions,omitempty"`
}
