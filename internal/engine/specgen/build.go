package specgen

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/network/portproxy"
	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/spec"
	"github.com/tirith-project/tirith/internal/units"
)

// SecretsDir is where --secret files appear inside the container.
const SecretsDir = "/run/secrets"

// SpecInput is what BuildSpec needs besides the flags.
type SpecInput struct {
	// Config is the image's config.
	Config store.Config
	// Rootfs is the container's mounted rootfs (USER and PATH lookups
	// read the image through it, confined to it).
	Rootfs string
	// ID is the container id; its first 12 characters are the default
	// hostname.
	ID string
	// SecretsSource is the host dir (a tmpfs) holding this container's
	// secrets; bound read-only onto /run/secrets when there are secrets.
	SecretsSource string
	// EtcSource, if set, is the host dir where the container's hosts and
	// hostname files are written; they are bound read-only onto
	// /etc/hosts and /etc/hostname.
	EtcSource string
	// PeerNetNS is, for --network container:NAME, the network namespace
	// of that running container to join (/proc/PID/ns/net).
	PeerNetNS string
	// NetNS is, for a bridge network, the namespace Tirith made and
	// attached (lo is up in it already); EtcSource then also holds
	// resolv.conf, bound read-only onto /etc/resolv.conf.
	NetNS string
}

// Built is BuildSpec's result.
type Built struct {
	Spec        *specs.Spec
	Relaxations []Relaxation
	// Warnings are not relaxations but still worth a line on stderr
	// (e.g. a secret-looking environment variable).
	Warnings []string
	// CapAdd and CapDrop are the --cap-add and --cap-drop names as
	// resolved (CAP_X, or ALL), and Seccomp the filter's source
	// ("default", "custom", "unconfined"): the record keeps them, so
	// that inspect reports what was asked, not a guess from today's
	// defaults.
	CapAdd, CapDrop []string
	Seccomp         string
	// SeccompAuto: --security-opt seccomp=auto asks for a profile
	// generated from the entrypoint binary; the spec holds the default
	// profile until the engine, which sees the rootfs, replaces it.
	SeccompAuto bool
	// Entrypoint is the leading part of the process's args that is
	// Docker's ENTRYPOINT, and UserSpec Docker's Config.User (--user,
	// else the image's USER), for inspect.
	Entrypoint []string
	UserSpec   string
	// Ports are the parsed -p flags (host port 0: chosen at start).
	Ports []portproxy.Mapping
	// Secrets are the parsed --secret flags, to be written into
	// SpecInput.SecretsSource; User is the payload's user they belong
	// to by default.
	Secrets []Secret
	User    *User
}

// builder is one BuildSpec call: the spec being built and what one
// wall's step hands to a later one.
type builder struct {
	in  SpecInput
	o   *Options
	sec securityOpts
	s   *specs.Spec
	out *Built
	// userns: wall 1 gives the container a user namespace.
	userns bool
	// caps is wall 2's bounding set: wall 3's filter depends on it.
	caps []string
	// rwPaths are the mounts the container may write (wall 7): wall 4's
	// Landlock policy lets it write them.
	rwPaths []string
}

func (b *builder) relax(wall int, flag, what string) {
	b.out.Relaxations = append(b.out.Relaxations, Relaxation{Wall: wall, Flag: flag, What: what})
}

// BuildSpec turns image config + flags into a hardened spec. It starts
// from spec.Default (every wall up) and then each flag changes one thing,
// recording a Relaxation when it weakens a wall. The walls are built in
// the order their dependencies allow: seccomp (3) after the capabilities
// (2) it is computed for, and Landlock (4) last, because its default
// policy is derived from every mount the container gets (7, and 6's
// devices).
func BuildSpec(in SpecInput, o *Options) (*Built, error) {
	sec, err := parseSecurityOpts(o.SecurityOpts)
	if err != nil {
		return nil, err
	}
	b := &builder{in: in, o: o, sec: sec, out: &Built{}}
	for _, step := range []func() error{
		b.identity,        // wall 1: user namespace, the payload's user
		b.process,         // the command, hostname, environment, cwd
		b.privileges,      // wall 2: capabilities, no_new_privs
		b.syscalls,        // wall 3: seccomp for the final capabilities
		b.namespaces,      // wall 5: network
		b.filesystem,      // wall 7: root, masks, volumes, tmpfs, secrets
		b.resources,       // wall 6: cgroup limits, devices, rlimits
		b.mandatoryAccess, // wall 4: Landlock over the final mounts; LSMs
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	b.out.Spec = b.s
	return b.out, spec.Validate(b.s)
}

// identity is wall 1: a user namespace unless --userns=host (the spec
// starts from spec.Default for that choice), and the payload's user from
// --user or the image's USER, resolved inside the image.
func (b *builder) identity() error {
	o := b.o
	b.userns = true
	switch o.Userns {
	case "", "auto", "private":
		// auto (podman's word) is the default: a range of host ids of
		// the container's own (package idrange).
	case "host":
		b.userns = false
		b.relax(1, "--userns=host", "container root is host root (no user namespace)")
	default:
		return fmt.Errorf("--userns %q: want auto (the default: a private range of host ids) or host", o.Userns)
	}
	b.s = spec.Default(b.userns)
	s := b.s

	userSpec := b.in.Config.User
	if o.User != "" {
		userSpec = o.User
	}
	b.out.UserSpec = userSpec
	u, err := ResolveUser(b.in.Rootfs, userSpec)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	b.out.User = u
	s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
	// setgroups stays allowed by default: Tirith writes the gid map as
	// root, so every group the container can take lies in its own range
	// (see spec.SetgroupsAnnotation); su, setpriv --init-groups and
	// nginx's workers need it. setgroups=deny asks for the deny anyway.
	if b.sec.setgroupsDeny {
		if !b.userns {
			return errors.New("--security-opt setgroups=deny: needs a user namespace (not --userns=host)")
		}
		s.Annotations[spec.SetgroupsAnnotation] = "deny"
		if len(u.AdditionalGids) > 0 {
			b.out.Warnings = append(b.out.Warnings, fmt.Sprintf("--security-opt setgroups=deny: user %s's supplementary groups %v are not set", userSpec, u.AdditionalGids))
			s.Process.User.AdditionalGids = nil
		}
	}
	return nil
}

// process is what the payload runs as, walls aside: Docker's
// ENTRYPOINT/CMD rules, the terminal, hostname, environment and cwd.
func (b *builder) process() error {
	o, s, cfg := b.o, b.s, b.in.Config
	entry, cmd := cfg.Entrypoint, cfg.Cmd
	if o.Entrypoint != nil {
		entry, cmd = nil, nil // --entrypoint resets the image's CMD
		if *o.Entrypoint != "" {
			entry = []string{*o.Entrypoint}
		}
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 {
		return fmt.Errorf("image %s has no command: give one after the image name, or --entrypoint", o.Image)
	}
	b.out.Entrypoint = slices.Clone(entry)
	s.Process.Args = args
	s.Process.Terminal = o.TTY

	hostname := b.in.ID
	if len(hostname) > 12 {
		hostname = hostname[:12]
	}
	if o.Hostname != "" {
		hostname = o.Hostname
	}
	s.Hostname = hostname

	env, warns, err := buildEnv(cfg.Env, o, hostname, b.out.User.Home)
	if err != nil {
		return err
	}
	b.out.Warnings = append(b.out.Warnings, warns...)
	s.Process.Env = env

	cwd := cfg.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return fmt.Errorf("--workdir %q: must be an absolute path", cwd)
	}
	s.Process.Cwd = path.Clean(cwd)
	return nil
}

// privileges is wall 2: capabilities and no_new_privs. A non-root user
// gets none in its effective and permitted sets (Docker gives them but
// execve as non-root drops them anyway; keeping the sets empty says so).
// --privileged is announced here for every wall it lowers.
func (b *builder) privileges() error {
	o, s := b.o, b.s
	set := slices.Clone(spec.DefaultCapabilities)
	if o.Privileged {
		set = caps.All()
		b.relax(2, "--privileged", "every capability, no no_new_privs")
		b.relax(3, "--privileged", "no seccomp filter")
		b.relax(4, "--privileged", "no Landlock policy")
		b.relax(6, "--privileged", "every device allowed by the device cgroup")
		b.relax(7, "--privileged", "no masked or read-only /proc and /sys paths; /sys writable")
	}
	for _, c := range o.CapAdd {
		if strings.EqualFold(c, "ALL") {
			set = caps.All()
			b.out.CapAdd = append(b.out.CapAdd, "ALL")
			b.relax(2, "--cap-add", "ALL capabilities added")
			continue
		}
		name, err := caps.FromFlag(c)
		if err != nil {
			return fmt.Errorf("--cap-add: %w", err)
		}
		b.out.CapAdd = append(b.out.CapAdd, name)
		if !slices.Contains(set, name) {
			set = append(set, name)
			b.relax(2, "--cap-add", name+" added")
		}
	}
	for _, c := range o.CapDrop {
		if strings.EqualFold(c, "ALL") {
			set = nil
			b.out.CapDrop = append(b.out.CapDrop, "ALL")
			continue
		}
		name, err := caps.FromFlag(c)
		if err != nil {
			return fmt.Errorf("--cap-drop: %w", err)
		}
		b.out.CapDrop = append(b.out.CapDrop, name)
		set = slices.DeleteFunc(set, func(x string) bool { return x == name })
	}
	b.caps = set
	effective := set
	if s.Process.User.UID != 0 {
		effective = []string{}
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: set, Effective: effective, Permitted: effective,
	}
	s.Process.NoNewPrivileges = !o.Privileged && b.sec.noNewPrivs
	if !b.sec.noNewPrivs && !o.Privileged {
		b.relax(2, "--security-opt no-new-privileges=false", "setuid programs and file capabilities may raise privileges")
	}
	return nil
}

// syscalls is wall 3: seccomp, computed for the final capabilities (some
// syscalls are allowed only with the capability that governs them).
func (b *builder) syscalls() error {
	o, s, sec := b.o, b.s, b.sec
	b.out.Seccomp = "default"
	switch {
	case o.Privileged:
		s.Linux.Seccomp = nil
		b.out.Seccomp = "unconfined"
	case o.Seccomp != nil:
		s.Linux.Seccomp = o.Seccomp.Profile
		b.out.Seccomp = o.Seccomp.Name
		if o.Seccomp.Relaxation != "" {
			b.relax(3, o.Seccomp.Flag, o.Seccomp.Relaxation)
		}
	case sec.seccomp == "unconfined":
		b.out.Seccomp = "unconfined"
		s.Linux.Seccomp = nil
		b.relax(3, "--security-opt seccomp=unconfined", "no seccomp filter: every syscall is allowed")
	case sec.seccomp == "auto":
		s.Linux.Seccomp = seccomp.Default(b.caps)
		b.out.SeccompAuto = true
	case sec.seccomp != "":
		data, err := os.ReadFile(sec.seccomp)
		if err != nil {
			return fmt.Errorf("--security-opt seccomp=%s: %w", sec.seccomp, err)
		}
		p, err := seccomp.ParseProfile(data)
		if err != nil {
			return fmt.Errorf("--security-opt seccomp=%s: %w", sec.seccomp, err)
		}
		var uts unix.Utsname
		_ = unix.Uname(&uts)
		s.Linux.Seccomp = p.Resolve(b.caps, goruntime.GOARCH, unix.ByteSliceToString(uts.Release[:]))
		b.relax(3, "--security-opt seccomp="+sec.seccomp, "a custom seccomp profile replaces Tirith's default")
		b.out.Seccomp = "custom"
	default:
		s.Linux.Seccomp = seccomp.Default(b.caps)
	}
	return nil
}

// namespaces is wall 5 (the user namespace is wall 1's): network none
// (the default's empty netns, lo up as in Docker: 127.0.0.1 works),
// a bridge network (a namespace Tirith made and attached), host, or
// another container's.
func (b *builder) namespaces() error {
	s := b.s
	join := func(path string) {
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = path
			}
		}
	}
	bridged := false
	switch peer, isPeer := strings.CutPrefix(b.o.Network, "container:"); {
	case b.o.Network == "" || b.o.Network == "none":
		s.Annotations[network.LoopbackAnnotation] = "up"
	case b.o.Network == "host":
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
		b.relax(5, "--network host", "the host's network stack is shared (no network namespace)")
	case isPeer && peer != "":
		// The sidecar pattern: one network stack, two containers.
		if b.in.PeerNetNS == "" {
			return fmt.Errorf("--network %s: the container's network namespace was not found", b.o.Network)
		}
		join(b.in.PeerNetNS)
		b.relax(5, "--network "+b.o.Network, "container "+peer+"'s network stack (interfaces, ports, loopback) is shared")
	case b.o.Network == Slirp || IsBridgeNetwork(b.o.Network):
		if b.in.NetNS == "" {
			return fmt.Errorf("--network %s: the network namespace was not made", b.o.Network)
		}
		join(b.in.NetNS)
		bridged = true
	default:
		return fmt.Errorf("--network %q: want bridge, none, host, container:NAME or a network made with tirith network create", b.o.Network)
	}
	for _, v := range b.o.Publish {
		m, err := portproxy.Parse(v)
		if err != nil {
			return err
		}
		if !bridged {
			return fmt.Errorf("-p %s: publishing needs a bridge or slirp4netns network (--network %s has none)", v, b.o.Network)
		}
		if m.AllInterfaces() {
			b.relax(5, "-p "+v, "the port is published on every address of the host, not only loopback")
		}
		b.out.Ports = append(b.out.Ports, m)
	}
	return nil
}

// IsBridgeNetwork reports whether --network names a bridge network
// (the default "bridge" or a user network), not none, host or
// container:NAME.
func IsBridgeNetwork(n string) bool {
	return n != "" && n != "none" && n != "host" && n != Slirp && !strings.HasPrefix(n, "container:")
}

// Slirp is --network slirp4netns: a namespace Tirith made, with
// user-mode TCP/IP (slirp4netns) as its way out: the network a rootless
// container can have (see internal/network/slirp).
const Slirp = "slirp4netns"

// filesystem is wall 7: the read-only root, masked and read-only paths,
// and the mounts the flags add after spec.Default's: volumes, --tmpfs,
// /etc/hosts and /etc/hostname, the secrets.
func (b *builder) filesystem() error {
	o, s, in := b.o, b.s, b.in
	s.Root = &specs.Root{Path: in.Rootfs, Readonly: o.ReadOnly}
	if !o.ReadOnly {
		b.relax(7, "--read-only=false", "the root filesystem is writable")
	}
	if o.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		for i := range s.Mounts {
			if s.Mounts[i].Type == "sysfs" || s.Mounts[i].Type == "cgroup" {
				s.Mounts[i].Options = slices.DeleteFunc(s.Mounts[i].Options, func(x string) bool { return x == "ro" })
			}
		}
	}
	for _, v := range o.Volumes {
		m, rw, err := parseVolume(v)
		if err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, m)
		if rw {
			b.rwPaths = append(b.rwPaths, m.Destination)
			b.relax(7, "--volume "+v, "host directory "+m.Source+" is writable from the container")
		}
	}
	for _, t := range o.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, m)
		b.rwPaths = append(b.rwPaths, m.Destination)
	}
	if in.EtcSource != "" {
		// The names the container resolves without DNS: localhost and
		// its own hostname, read-only like the rootfs.
		files := []string{"hosts", "hostname"}
		if in.NetNS != "" {
			files = append(files, "resolv.conf")
		}
		for _, f := range files {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(in.EtcSource, f),
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	for _, sv := range o.Secrets {
		so, err := parseSecret(sv)
		if err != nil {
			return err
		}
		for _, prev := range b.out.Secrets {
			if prev.Target == so.Target {
				return fmt.Errorf("--secret %q: target %q given twice", sv, so.Target)
			}
		}
		b.out.Secrets = append(b.out.Secrets, so)
	}
	if len(b.out.Secrets) > 0 {
		// Bound after the /run tmpfs so that it lands on top of it.
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: SecretsDir, Type: "bind", Source: in.SecretsSource,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
	}
	return nil
}

// resources is wall 6: memory and swap, pids, CPU, the device allowlist
// (and the binds of --device nodes), rlimits.
func (b *builder) resources() error {
	o, s := b.o, b.s
	r := s.Linux.Resources
	mem := int64(DefaultMemory)
	var err error
	if o.Memory != "" {
		if mem, err = units.ParseSize(o.Memory); err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
	}
	swap := mem
	if o.MemorySwap != "" {
		if swap, err = units.ParseSize(o.MemorySwap); err != nil {
			return fmt.Errorf("--memory-swap: %w", err)
		}
		if swap > 0 && mem > 0 && swap < mem {
			return fmt.Errorf("--memory-swap %s: must be at least --memory (it is memory plus swap)", o.MemorySwap)
		}
		if swap < 0 {
			b.relax(6, "--memory-swap -1", "unlimited swap")
		} else if swap > mem {
			b.relax(6, "--memory-swap", "the container may swap")
		}
	}
	if mem <= 0 {
		b.relax(6, "--memory "+o.Memory, "no memory limit")
		if o.MemorySwap == "" {
			swap = -1
		}
	} else {
		if mem < 6<<20 {
			return fmt.Errorf("--memory %s: the minimum is 6m", o.Memory)
		}
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		if swap != 0 {
			sw := swap
			r.Memory.Swap = &sw
		}
	}
	if o.PidsLimit != nil {
		if *o.PidsLimit <= 0 {
			r.Pids = nil
			b.relax(6, "--pids-limit", "no limit on the number of processes (fork bombs)")
		} else {
			n := *o.PidsLimit
			r.Pids = &specs.LinuxPids{Limit: &n}
		}
	}
	if o.CPUs != "" {
		f, err := strconv.ParseFloat(o.CPUs, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("--cpus %q: want a positive number such as 1.5", o.CPUs)
		}
		period := uint64(100000)
		quota := int64(f * float64(period))
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if o.CPUShares != 0 {
		if o.CPUShares < 2 {
			return fmt.Errorf("--cpu-shares %d: the minimum is 2", o.CPUShares)
		}
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		sh := uint64(o.CPUShares)
		r.CPU.Shares = &sh
	}
	if o.Privileged {
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	for _, d := range o.Devices {
		dev, rule, err := parseDevice(d)
		if err != nil {
			return err
		}
		// A bind mount of the host node, not mknod: mknod is refused in
		// a user namespace, and runtime-spec's linux.devices has no host
		// path (a runtime binds the node from the same path on the host).
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: dev.Path, Type: "bind", Source: hostDevice(d),
			Options: []string{"bind", "nosuid", "noexec"},
		})
		r.Devices = append(r.Devices, rule)
		b.relax(6, "--device "+d, "host device "+strings.SplitN(d, ":", 2)[0]+" is reachable from the container")
	}
	for _, ul := range o.Ulimits {
		rl, err := parseUlimit(ul)
		if err != nil {
			return err
		}
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(x specs.POSIXRlimit) bool { return x.Type == rl.Type })
		s.Process.Rlimits = append(s.Process.Rlimits, rl)
	}
	return nil
}

// mandatoryAccess is wall 4: Landlock (the default policy made for the
// final mounts: executeSplit), AppArmor and SELinux.
func (b *builder) mandatoryAccess() error {
	o, s, sec := b.o, b.s, b.sec
	switch {
	case o.Privileged:
		delete(s.Annotations, landlock.Annotation)
	case sec.landlock == "off":
		delete(s.Annotations, landlock.Annotation)
		b.relax(4, "--security-opt landlock=off", "no Landlock policy: the payload may open and execute any file it has permission for")
	case sec.landlock != "":
		data, err := os.ReadFile(sec.landlock)
		if err != nil {
			return fmt.Errorf("--security-opt landlock=%s: %w", sec.landlock, err)
		}
		p, err := landlock.Parse(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("--security-opt landlock=%s: %w", sec.landlock, err)
		}
		s.Annotations[landlock.Annotation] = p.String()
		b.relax(4, "--security-opt landlock="+sec.landlock, "a custom Landlock policy replaces Tirith's default")
	default:
		p := spec.DefaultLandlock()
		rwPaths := b.rwPaths
		if !o.ReadOnly {
			rwPaths = append(rwPaths, "/")
			b.relax(4, "--read-only=false", "programs the container writes into the image's directories can be executed (writable mounts still cannot)")
		}
		for _, d := range rwPaths {
			if !Under(d, p.ReadWrite) {
				p.ReadWrite = append(p.ReadWrite, d)
			}
		}
		p.Execute, p.NoExecute = executeSplit(s.Mounts)
		s.Annotations[landlock.Annotation] = p.String()
	}
	if sec.apparmor != "" {
		if sec.apparmor == "unconfined" {
			b.relax(4, "--security-opt apparmor=unconfined", "no AppArmor profile")
		} else {
			s.Process.ApparmorProfile = sec.apparmor
		}
	}
	if sec.labelDisable {
		b.relax(4, "--security-opt label=disable", "no SELinux labels")
	}
	return nil
}

// NoNewPrivileges says whether the payload runs with no_new_privs under
// these flags (the overlay is then mounted nosuid too).
func NoNewPrivileges(o *Options) (bool, error) {
	sec, err := parseSecurityOpts(o.SecurityOpts)
	if err != nil {
		return false, err
	}
	return sec.noNewPrivs && !o.Privileged, nil
}
