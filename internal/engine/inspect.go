package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/runtime/plan"
	"github.com/tirith-project/tirith/internal/spec"
)

// Inspection is a front-end container as `tirith inspect` prints it:
// Docker's field names where Docker has the field, plus Security, the
// walls as the container's config.json enforces them and the
// relaxations recorded at run. Secrets appear by name only: their
// content is never read.
type Inspection struct {
	ID      string    `json:"Id"`
	Created time.Time `json:"Created"`
	// Path and Args are the process's argv[0] and the rest, as Docker
	// splits them.
	Path       string            `json:"Path"`
	Args       []string          `json:"Args"`
	State      InspectState      `json:"State"`
	Image      string            `json:"Image"`
	Name       string            `json:"Name"`
	Config     InspectConfig     `json:"Config"`
	Mounts     []InspectMount    `json:"Mounts"`
	HostConfig InspectHostConfig `json:"HostConfig"`
	// NetworkSettings is the bridge network's address and the published
	// ports, while the container runs (Docker's shape).
	NetworkSettings InspectNetworkSettings `json:"NetworkSettings"`
	// Security is nil while the container's config.json is not written
	// yet (a run still preparing it).
	Security *InspectSecurity `json:"Security"`
}

// InspectNetworkSettings is Docker's NetworkSettings, in part.
type InspectNetworkSettings struct {
	IPAddress   string                           `json:"IPAddress"`
	IPPrefixLen int                              `json:"IPPrefixLen"`
	Gateway     string                           `json:"Gateway"`
	MacAddress  string                           `json:"MacAddress"`
	Ports       map[string][]InspectPortBinding  `json:"Ports"`
	Networks    map[string]InspectNetworkAddress `json:"Networks"`
}

// InspectPortBinding is one host side of a published port.
type InspectPortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// InspectNetworkAddress is the container's address on one network.
type InspectNetworkAddress struct {
	IPAddress   string `json:"IPAddress"`
	IPPrefixLen int    `json:"IPPrefixLen"`
	Gateway     string `json:"Gateway"`
	MacAddress  string `json:"MacAddress"`
}

// InspectState is Docker's State.
type InspectState struct {
	Status     string    `json:"Status"` // created, running, exited
	Running    bool      `json:"Running"`
	OOMKilled  bool      `json:"OOMKilled"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	StartedAt  time.Time `json:"StartedAt,omitzero"`
	FinishedAt time.Time `json:"FinishedAt,omitzero"`
}

// InspectConfig is Docker's Config: the image's settings merged with
// the run's flags.
type InspectConfig struct {
	Hostname   string   `json:"Hostname"`
	User       string   `json:"User"`
	Tty        bool     `json:"Tty"`
	Env        []string `json:"Env"`
	Cmd        []string `json:"Cmd"`
	Image      string   `json:"Image"`
	WorkingDir string   `json:"WorkingDir"`
	Entrypoint []string `json:"Entrypoint"`
}

// InspectMount is one volume (Type "bind"), tmpfs given with --tmpfs
// (Type "tmpfs") or secret (Type "secret", Name only).
type InspectMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source,omitempty"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
}

// InspectHostConfig is the Docker-shaped part of the resource and
// privilege settings.
type InspectHostConfig struct {
	AutoRemove     bool            `json:"AutoRemove"`
	Privileged     bool            `json:"Privileged"`
	NetworkMode    string          `json:"NetworkMode,omitempty"`
	UsernsMode     string          `json:"UsernsMode"`
	ReadonlyRootfs bool            `json:"ReadonlyRootfs"`
	CapAdd         []string        `json:"CapAdd"`
	CapDrop        []string        `json:"CapDrop"`
	Memory         int64           `json:"Memory"`
	MemorySwap     int64           `json:"MemorySwap"`
	PidsLimit      *int64          `json:"PidsLimit"`
	NanoCpus       int64           `json:"NanoCpus"`
	CpuShares      uint64          `json:"CpuShares"`
	Devices        []InspectDevice `json:"Devices"`
}

// InspectDevice is a host device given with --device.
type InspectDevice struct {
	PathOnHost      string `json:"PathOnHost"`
	PathInContainer string `json:"PathInContainer"`
}

// InspectSecurity is the seven walls as enforced by the container's
// config.json, and the relaxations recorded when it was run.
type InspectSecurity struct {
	// Wall 1.
	UserNamespace InspectUserns `json:"UserNamespace"`
	User          InspectUser   `json:"User"`
	// Wall 2.
	Capabilities    InspectCaps `json:"Capabilities"`
	NoNewPrivileges bool        `json:"NoNewPrivileges"`
	// Wall 3.
	Seccomp InspectSeccomp `json:"Seccomp"`
	// Wall 4.
	Landlock        InspectLandlock `json:"Landlock"`
	AppArmorProfile string          `json:"AppArmorProfile,omitempty"`
	SelinuxLabel    string          `json:"SelinuxLabel,omitempty"`
	// Wall 5.
	Namespaces  []string `json:"Namespaces"`
	NetworkMode string   `json:"NetworkMode"`
	// Wall 6: 0 (memory) and null (pids) mean no limit.
	Memory     int64  `json:"Memory"`
	MemorySwap int64  `json:"MemorySwap"`
	PidsLimit  *int64 `json:"PidsLimit"`
	// Wall 7.
	ReadonlyRootfs bool `json:"ReadonlyRootfs"`
	MaskedPaths    int  `json:"MaskedPaths"`
	ReadonlyPaths  int  `json:"ReadonlyPaths"`

	Relaxations []InspectRelaxation `json:"Relaxations"`
	// Enforced is what the container's init found the kernel granted
	// (Landlock ABI and rights, capability sets, no_new_privs, ids), from
	// its plan's apply report; absent before the container was created.
	Enforced *plan.Report `json:"Enforced,omitempty"`
}

// InspectUserns is the user namespace and its id maps.
type InspectUserns struct {
	Enabled     bool                   `json:"Enabled"`
	UIDMappings []specs.LinuxIDMapping `json:"UIDMappings"`
	GIDMappings []specs.LinuxIDMapping `json:"GIDMappings"`
	Setgroups   string                 `json:"Setgroups,omitempty"` // "deny" or "allow"
}

// InspectUser is the process's ids inside the container.
type InspectUser struct {
	UID            uint32   `json:"UID"`
	GID            uint32   `json:"GID"`
	AdditionalGids []uint32 `json:"AdditionalGids,omitempty"`
}

// InspectCaps are the process's capability sets.
type InspectCaps struct {
	Bounding    []string `json:"Bounding"`
	Effective   []string `json:"Effective"`
	Permitted   []string `json:"Permitted"`
	Inheritable []string `json:"Inheritable"`
	Ambient     []string `json:"Ambient"`
}

// InspectSeccomp says whether a filter is installed and whose it is:
// Profile is "default" (Tirith's allowlist for the container's
// capabilities), "custom" (--security-opt seccomp=FILE) or "off".
type InspectSeccomp struct {
	Enabled       bool   `json:"Enabled"`
	Profile       string `json:"Profile"`
	DefaultAction string `json:"DefaultAction,omitempty"`
	Rules         int    `json:"Rules,omitempty"`
	// Instructions is the size of the compiled filter (from the plan).
	Instructions int `json:"Instructions,omitempty"`
}

// InspectLandlock is the Landlock policy annotation, if any: the
// policy as a JSON object (a string if it is not JSON).
type InspectLandlock struct {
	Enabled bool            `json:"Enabled"`
	Policy  json.RawMessage `json:"Policy,omitempty"`
}

// InspectRelaxation is a Relaxation with its wall's name.
type InspectRelaxation struct {
	Wall     int    `json:"Wall"`
	WallName string `json:"WallName"`
	Flag     string `json:"Flag"`
	What     string `json:"What"`
}

// Inspect finds a container by name, id or unique id prefix (Lookup)
// and describes it. The error wraps ErrNoContainer when nothing matches.
func (e *Engine) Inspect(q string) (*Inspection, error) {
	rec, err := e.Lookup(q)
	if err != nil {
		return nil, err
	}
	e.Refresh(rec)
	return e.InspectRecord(rec)
}

// InspectRecord describes the container of rec, reading its
// config.json (never its secrets).
func (e *Engine) InspectRecord(rec *Record) (*Inspection, error) {
	in := &Inspection{
		ID: rec.ID, Created: rec.Created, Image: rec.ImageID, Name: "/" + rec.Name,
		Args:   []string{},
		Mounts: []InspectMount{},
		State: InspectState{
			Status: rec.Status, Running: rec.Status == StatusRunning, OOMKilled: rec.OOMKilled,
			ExitCode: rec.ExitCode, StartedAt: rec.Started, FinishedAt: rec.Finished,
		},
		Config: InspectConfig{Image: rec.Image, User: rec.User, Tty: rec.TTY},
		HostConfig: InspectHostConfig{
			AutoRemove: rec.AutoRemove,
			Privileged: slices.ContainsFunc(rec.Relaxations, func(r Relaxation) bool { return r.Flag == "--privileged" }),
		},
	}
	if in.State.Running {
		in.State.Pid = rec.Pid
	}
	args := rec.Cmd
	if len(args) > 0 {
		in.Path, in.Args = args[0], append([]string{}, args[1:]...)
	}
	in.Config.Entrypoint, in.Config.Cmd = splitCommand(rec.Entrypoint, args)

	s, err := e.readSpec(rec.ID)
	if errors.Is(err, fs.ErrNotExist) {
		// Prepare has not written it yet: what the record says.
		in.Mounts = append(in.Mounts, e.secretMounts(rec)...)
		return in, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Process != nil {
		in.Config.Env = s.Process.Env
		in.Config.WorkingDir = s.Process.Cwd
		if len(args) == 0 && len(s.Process.Args) > 0 {
			in.Path, in.Args = s.Process.Args[0], append([]string{}, s.Process.Args[1:]...)
		}
	}
	in.Config.Hostname = s.Hostname
	in.Mounts, in.HostConfig.Devices = e.inspectMounts(rec, s)
	// What the plan enforced; before the container was created, the plan
	// its config.json would give (without a report of what was granted).
	a := e.applied(rec.ID)
	if a == nil {
		p, err := plan.Build(s, plan.Facts{ID: rec.ID, Arch: goruntime.GOARCH})
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", rec.ID, err)
		}
		a = &runtime.Applied{Plan: p}
	}
	in.Security = planSecurity(rec, a)
	sec := in.Security
	if rec.Network != "" {
		sec.NetworkMode = rec.Network // not the pinned namespace's path
	}
	in.HostConfig.NetworkMode = sec.NetworkMode
	in.NetworkSettings = InspectNetworkSettings{Ports: map[string][]InspectPortBinding{}, Networks: map[string]InspectNetworkAddress{}}
	if rec.Network != "" && rec.Status == StatusRunning {
		ns := &in.NetworkSettings
		ns.IPAddress, ns.IPPrefixLen, ns.Gateway, ns.MacAddress = rec.IPAddress, rec.IPPrefixLen, rec.Gateway, rec.MacAddress
		ns.Networks[rec.Network] = InspectNetworkAddress{rec.IPAddress, rec.IPPrefixLen, rec.Gateway, rec.MacAddress}
		for _, m := range rec.Ports {
			k := fmt.Sprintf("%d/%s", m.ContainerPort, m.Proto)
			ns.Ports[k] = append(ns.Ports[k], InspectPortBinding{m.HostIP, fmt.Sprint(m.HostPort)})
		}
	}
	if !sec.UserNamespace.Enabled {
		in.HostConfig.UsernsMode = "host"
	}
	in.HostConfig.ReadonlyRootfs = sec.ReadonlyRootfs
	in.HostConfig.Memory, in.HostConfig.MemorySwap, in.HostConfig.PidsLimit = sec.Memory, sec.MemorySwap, sec.PidsLimit
	in.HostConfig.CapAdd, in.HostConfig.CapDrop = nonNil(rec.CapAdd), nonNil(rec.CapDrop)
	if s.Linux != nil && s.Linux.Resources != nil && s.Linux.Resources.CPU != nil {
		c := s.Linux.Resources.CPU
		if c.Quota != nil && c.Period != nil && *c.Period > 0 && *c.Quota > 0 {
			in.HostConfig.NanoCpus = *c.Quota * 1e9 / int64(*c.Period)
		}
		if c.Shares != nil {
			in.HostConfig.CpuShares = *c.Shares
		}
	}
	return in, nil
}

func (e *Engine) readSpec(id string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(e.Dir(id), spec.ConfigFile))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("config.json of container %s: %w", id, err)
	}
	return &s, nil
}

// splitCommand splits the process's args into Docker's Entrypoint and
// Cmd. Records older than the Entrypoint field have none: everything is
// Cmd.
func splitCommand(entry, args []string) ([]string, []string) {
	if len(entry) > 0 && len(entry) <= len(args) && slices.Equal(entry, args[:len(entry)]) {
		return slices.Clone(entry), slices.Clone(args[len(entry):])
	}
	return nil, slices.Clone(args)
}

// secretMounts lists the secrets by name: /run/secrets/NAME, read-only.
func (e *Engine) secretMounts(rec *Record) []InspectMount {
	var out []InspectMount
	for _, n := range rec.Secrets {
		out = append(out, InspectMount{Type: "secret", Name: n, Destination: path.Join(specgen.SecretsDir, n), Mode: "ro"})
	}
	return out
}

// inspectMounts lists the mounts the run's flags added (the defaults of
// spec.Default are left out): volumes, --tmpfs and, by name, secrets.
// Binds of host device nodes are --device: returned apart.
func (e *Engine) inspectMounts(rec *Record, s *specs.Spec) ([]InspectMount, []InspectDevice) {
	defaults := spec.Default(true).Mounts
	isDefault := func(m specs.Mount) bool {
		for _, d := range defaults {
			if d.Destination == m.Destination && d.Type == m.Type && d.Source == m.Source && slices.Equal(d.Options, m.Options) {
				return true
			}
		}
		return false
	}
	mounts := []InspectMount{}
	devices := []InspectDevice{}
	for _, m := range s.Mounts {
		if isDefault(m) {
			continue
		}
		ro := slices.Contains(m.Options, "ro")
		mode := "rw"
		if ro {
			mode = "ro"
		}
		switch m.Type {
		case "bind":
			if m.Source == e.secrets(rec.ID) && m.Destination == specgen.SecretsDir {
				continue // listed by name below
			}
			if filepath.Dir(m.Source) == e.etc(rec.ID) {
				continue // /etc/hosts and /etc/hostname: Tirith's own
			}
			var st unix.Stat_t
			if unix.Stat(m.Source, &st) == nil && (st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK) {
				devices = append(devices, InspectDevice{PathOnHost: m.Source, PathInContainer: m.Destination})
				continue
			}
			mounts = append(mounts, InspectMount{Type: "bind", Source: m.Source, Destination: m.Destination, Mode: mode, RW: !ro})
		case "tmpfs":
			mounts = append(mounts, InspectMount{Type: "tmpfs", Destination: m.Destination, Mode: strings.Join(m.Options, ","), RW: !ro})
		}
	}
	return append(mounts, e.secretMounts(rec)...), devices
}

// limits are wall 6's memory, swap and pids: 0 (memory) and nil (pids)
// mean no limit.
func limits(r *specs.LinuxResources) (mem, swap int64, pids *int64) {
	if r == nil {
		return 0, 0, nil
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			mem = *m.Limit
		}
		if m.Swap != nil {
			swap = *m.Swap
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
		n := *r.Pids.Limit
		pids = &n
	}
	return mem, swap, pids
}

func inspectCaps(c *specs.LinuxCapabilities) InspectCaps {
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	return InspectCaps{Bounding: nonNil(c.Bounding), Effective: nonNil(c.Effective), Permitted: nonNil(c.Permitted), Inheritable: nonNil(c.Inheritable), Ambient: nonNil(c.Ambient)}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// saveApplied keeps the container's plan and report in its directory
// once its runtime state goes (the container exited).
func (e *Engine) saveApplied(id string, a *runtime.Applied) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return atomicfile.Write(e.appliedPath(id), data, 0o600)
}

// applied is the container's plan and report: the runtime's while its
// state exists (current after `update`), else the copy kept at exit; nil
// before the container was created.
func (e *Engine) applied(id string) *runtime.Applied {
	if c, err := runtime.Load(e.Root, id); err == nil {
		a, err := c.Applied()
		c.Close()
		if err == nil {
			return a
		}
	}
	data, err := os.ReadFile(e.appliedPath(id))
	if err != nil {
		return nil
	}
	var a runtime.Applied
	if json.Unmarshal(data, &a) != nil || a.Plan == nil || a.Plan.Version != plan.Version {
		return nil
	}
	return &a
}

// planSecurity is the walls as the container's plan enforced them and
// as its init found the kernel granted them.
func planSecurity(rec *Record, a *runtime.Applied) *InspectSecurity {
	pl, p := a.Plan, &a.Plan.Process
	sec := &InspectSecurity{
		Namespaces:      []string{},
		NetworkMode:     "host",
		Relaxations:     []InspectRelaxation{},
		User:            InspectUser{UID: p.User.UID, GID: p.User.GID, AdditionalGids: p.User.AdditionalGids},
		NoNewPrivileges: p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		SelinuxLabel:    p.SelinuxLabel,
		ReadonlyRootfs:  pl.Rootfs.Readonly,
		MaskedPaths:     len(pl.MaskedPaths),
		ReadonlyPaths:   len(pl.ReadonlyPaths),
		Enforced:        a.Report,
	}
	for _, r := range rec.Relaxations {
		sec.Relaxations = append(sec.Relaxations, InspectRelaxation{Wall: r.Wall, WallName: spec.WallNames[r.Wall], Flag: r.Flag, What: r.What})
	}
	sec.Capabilities = inspectCaps(p.Capabilities)
	if p.Landlock != nil {
		sec.Landlock = InspectLandlock{Enabled: true, Policy: json.RawMessage(p.Landlock.String())}
	}
	sec.Seccomp = InspectSeccomp{Profile: "unconfined"}
	if f := p.Seccomp; f != nil && f.Program != nil {
		sec.Seccomp = InspectSeccomp{Enabled: true, Profile: rec.Seccomp, DefaultAction: f.DefaultAction, Rules: f.Rules, Instructions: len(f.Program.Filter)}
		if sec.Seccomp.Profile == "" {
			sec.Seccomp.Profile = "custom" // recorded by a Tirith that did not say
		}
	}
	for _, t := range pl.Namespaces.New {
		sec.Namespaces = append(sec.Namespaces, string(t))
		if t == specs.NetworkNamespace {
			sec.NetworkMode = "none"
		}
	}
	for _, j := range pl.Namespaces.Join {
		sec.Namespaces = append(sec.Namespaces, string(j.Type))
		if j.Type == specs.NetworkNamespace {
			sec.NetworkMode = "container:" + j.Path
		}
	}
	sec.UserNamespace = InspectUserns{UIDMappings: []specs.LinuxIDMapping{}, GIDMappings: []specs.LinuxIDMapping{}}
	if pl.Namespaces.NewUserNS() {
		sec.UserNamespace = InspectUserns{Enabled: true, UIDMappings: pl.Namespaces.UIDMappings, GIDMappings: pl.Namespaces.GIDMappings, Setgroups: "deny"}
		if p.Setgroups {
			sec.UserNamespace.Setgroups = "allow"
		}
	}
	sec.Memory, sec.MemorySwap, sec.PidsLimit = limits(pl.Resources)
	return sec
}
