package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/seccomp"
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
	// Security is nil while the container's config.json is not written
	// yet (a run still preparing it).
	Security *InspectSecurity `json:"Security"`
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
	Rules         int    `json:"Rules"`
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
	in.Security = inspectSecurity(rec, s)
	sec := in.Security
	in.HostConfig.NetworkMode = sec.NetworkMode
	if !sec.UserNamespace.Enabled {
		in.HostConfig.UsernsMode = "host"
	}
	in.HostConfig.ReadonlyRootfs = sec.ReadonlyRootfs
	in.HostConfig.Memory, in.HostConfig.MemorySwap, in.HostConfig.PidsLimit = sec.Memory, sec.MemorySwap, sec.PidsLimit
	bounding := sec.Capabilities.Bounding
	in.HostConfig.CapAdd = capsNotIn(bounding, spec.DefaultCapabilities)
	in.HostConfig.CapDrop = capsNotIn(spec.DefaultCapabilities, bounding)
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

// effectiveEntrypoint is the ENTRYPOINT of a container run with o from
// an image with config cfg, by Docker's rules (as BuildSpec applies
// them): --entrypoint replaces the image's.
func effectiveEntrypoint(cfg store.Config, o *Options) []string {
	if o.Entrypoint == nil {
		return slices.Clone(cfg.Entrypoint)
	}
	if *o.Entrypoint == "" {
		return nil
	}
	return []string{*o.Entrypoint}
}

// effectiveUser is Docker's Config.User: --user, else the image's USER.
func effectiveUser(cfg store.Config, o *Options) string {
	if o.User != "" {
		return o.User
	}
	return cfg.User
}

// secretMounts lists the secrets by name: /run/secrets/NAME, read-only.
func (e *Engine) secretMounts(rec *Record) []InspectMount {
	var out []InspectMount
	for _, n := range rec.Secrets {
		out = append(out, InspectMount{Type: "secret", Name: n, Destination: path.Join(SecretsDir, n), Mode: "ro"})
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
			if m.Source == e.secrets(rec.ID) && m.Destination == SecretsDir {
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

func inspectSecurity(rec *Record, s *specs.Spec) *InspectSecurity {
	sec := &InspectSecurity{
		Namespaces:  []string{},
		NetworkMode: "host",
		Relaxations: []InspectRelaxation{},
	}
	for _, r := range rec.Relaxations {
		sec.Relaxations = append(sec.Relaxations, InspectRelaxation{Wall: r.Wall, WallName: WallNames[r.Wall], Flag: r.Flag, What: r.What})
	}
	if s.Root != nil {
		sec.ReadonlyRootfs = s.Root.Readonly
	}
	if p := s.Process; p != nil {
		sec.User = InspectUser{UID: p.User.UID, GID: p.User.GID, AdditionalGids: p.User.AdditionalGids}
		sec.NoNewPrivileges = p.NoNewPrivileges
		sec.AppArmorProfile = p.ApparmorProfile
		sec.SelinuxLabel = p.SelinuxLabel
		if c := p.Capabilities; c != nil {
			sec.Capabilities = InspectCaps{Bounding: c.Bounding, Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: c.Ambient}
		}
	}
	nonNil := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	c := &sec.Capabilities
	c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient = nonNil(c.Bounding), nonNil(c.Effective), nonNil(c.Permitted), nonNil(c.Inheritable), nonNil(c.Ambient)

	if pol, ok := s.Annotations[landlock.Annotation]; ok {
		raw := json.RawMessage(pol)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(pol)
		}
		sec.Landlock = InspectLandlock{Enabled: true, Policy: raw}
	}
	l := s.Linux
	if l == nil {
		sec.Seccomp.Profile = "off"
		return sec
	}
	for _, ns := range l.Namespaces {
		sec.Namespaces = append(sec.Namespaces, string(ns.Type))
		switch ns.Type {
		case specs.UserNamespace:
			sec.UserNamespace.Enabled = true
		case specs.NetworkNamespace:
			if ns.Path == "" {
				sec.NetworkMode = "none"
			} else {
				sec.NetworkMode = "container:" + ns.Path
			}
		}
	}
	if sec.UserNamespace.Enabled {
		sec.UserNamespace.UIDMappings = l.UIDMappings
		sec.UserNamespace.GIDMappings = l.GIDMappings
		sec.UserNamespace.Setgroups = "allow"
		if spec.SetgroupsDenied(s) {
			sec.UserNamespace.Setgroups = "deny"
		}
	}
	if sec.UserNamespace.UIDMappings == nil {
		sec.UserNamespace.UIDMappings = []specs.LinuxIDMapping{}
	}
	if sec.UserNamespace.GIDMappings == nil {
		sec.UserNamespace.GIDMappings = []specs.LinuxIDMapping{}
	}
	sec.Seccomp = inspectSeccomp(l.Seccomp, sec.Capabilities.Bounding)
	sec.MaskedPaths, sec.ReadonlyPaths = len(l.MaskedPaths), len(l.ReadonlyPaths)
	if r := l.Resources; r != nil {
		if m := r.Memory; m != nil {
			if m.Limit != nil && *m.Limit > 0 {
				sec.Memory = *m.Limit
			}
			if m.Swap != nil {
				sec.MemorySwap = *m.Swap
			}
		}
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
			n := *r.Pids.Limit
			sec.PidsLimit = &n
		}
	}
	return sec
}

// inspectSeccomp tells Tirith's default filter (for the container's
// bounding set) from a custom one by comparing the two as JSON.
func inspectSeccomp(p *specs.LinuxSeccomp, caps []string) InspectSeccomp {
	if p == nil {
		return InspectSeccomp{Profile: "off"}
	}
	out := InspectSeccomp{Enabled: true, Profile: "custom", DefaultAction: string(p.DefaultAction), Rules: len(p.Syscalls)}
	got, err1 := json.Marshal(p)
	want, err2 := json.Marshal(seccomp.Default(caps))
	if err1 == nil && err2 == nil && bytes.Equal(got, want) {
		out.Profile = "default"
	}
	return out
}

// capsNotIn is the elements of a not in b, never nil.
func capsNotIn(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
