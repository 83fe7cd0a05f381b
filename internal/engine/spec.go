package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	// Aliased: BuildSpec's local "caps" is the set being built.
	capabilities "github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/network"
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
	// hostname files are written (writeEtc); they are bound read-only
	// onto /etc/hosts and /etc/hostname.
	EtcSource string
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
	secrets         []secretOpt
	user            *execUser
}

// BuildSpec turns image config + flags into a hardened spec. It starts
// from spec.Default (every wall up) and then each flag changes one thing,
// recording a Relaxation when it weakens a wall.
func BuildSpec(in SpecInput, o *Options) (*Built, error) {
	b := &Built{}
	relax := func(wall int, flag, what string) {
		b.Relaxations = append(b.Relaxations, Relaxation{Wall: wall, Flag: flag, What: what})
	}
	sec, err := parseSecurityOpts(o.SecurityOpts)
	if err != nil {
		return nil, err
	}

	// Wall 1: user namespace unless --userns=host.
	userns := true
	switch o.Userns {
	case "", "auto", "private":
		// auto (podman's word) is the default: a range of host ids of
		// the container's own (idmap.go).
	case "host":
		userns = false
		relax(1, "--userns=host", "container root is host root (no user namespace)")
	default:
		return nil, fmt.Errorf("--userns %q: want auto (the default: a private range of host ids) or host", o.Userns)
	}
	s := spec.Default(userns)
	s.Root = &specs.Root{Path: in.Rootfs, Readonly: o.ReadOnly}
	if !o.ReadOnly {
		relax(7, "--read-only=false", "the root filesystem is writable")
	}

	// Process: Docker's ENTRYPOINT/CMD rules.
	entry, cmd := in.Config.Entrypoint, in.Config.Cmd
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
		return nil, fmt.Errorf("image %s has no command: give one after the image name, or --entrypoint", o.Image)
	}
	s.Process.Args = args
	s.Process.Terminal = o.TTY

	userSpec := in.Config.User
	if o.User != "" {
		userSpec = o.User
	}
	u, err := resolveUser(in.Rootfs, userSpec)
	if err != nil {
		return nil, fmt.Errorf("--user: %w", err)
	}
	b.user = u
	s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
	// setgroups stays allowed by default: Tirith writes the gid map as
	// root, so every group the container can take lies in its own range
	// (see spec.SetgroupsAnnotation); su, setpriv --init-groups and
	// nginx's workers need it. setgroups=deny asks for the deny anyway.
	if sec.setgroupsDeny {
		if !userns {
			return nil, errors.New("--security-opt setgroups=deny: needs a user namespace (not --userns=host)")
		}
		s.Annotations[spec.SetgroupsAnnotation] = "deny"
		if len(u.AdditionalGids) > 0 {
			b.Warnings = append(b.Warnings, fmt.Sprintf("--security-opt setgroups=deny: user %s's supplementary groups %v are not set", userSpec, u.AdditionalGids))
			s.Process.User.AdditionalGids = nil
		}
	}

	hostname := in.ID
	if len(hostname) > 12 {
		hostname = hostname[:12]
	}
	if o.Hostname != "" {
		hostname = o.Hostname
	}
	s.Hostname = hostname

	env, warns, err := buildEnv(in.Config.Env, o, hostname, u.Home)
	if err != nil {
		return nil, err
	}
	b.Warnings = append(b.Warnings, warns...)
	s.Process.Env = env

	cwd := in.Config.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("--workdir %q: must be an absolute path", cwd)
	}
	s.Process.Cwd = path.Clean(cwd)

	// Wall 2: capabilities. A non-root user gets none in its effective
	// and permitted sets (Docker gives them but execve as non-root
	// drops them anyway; keeping the sets empty says so).
	caps := slices.Clone(spec.DefaultCapabilities)
	if o.Privileged {
		caps = capabilities.All()
		relax(2, "--privileged", "every capability, no no_new_privs")
		relax(3, "--privileged", "no seccomp filter")
		relax(4, "--privileged", "no Landlock policy")
		relax(6, "--privileged", "every device allowed by the device cgroup")
		relax(7, "--privileged", "no masked or read-only /proc and /sys paths; /sys writable")
	}
	for _, c := range o.CapAdd {
		if strings.EqualFold(c, "ALL") {
			caps = capabilities.All()
			b.CapAdd = append(b.CapAdd, "ALL")
			relax(2, "--cap-add", "ALL capabilities added")
			continue
		}
		name, err := capabilities.FromFlag(c)
		if err != nil {
			return nil, fmt.Errorf("--cap-add: %w", err)
		}
		b.CapAdd = append(b.CapAdd, name)
		if !slices.Contains(caps, name) {
			caps = append(caps, name)
			relax(2, "--cap-add", name+" added")
		}
	}
	for _, c := range o.CapDrop {
		if strings.EqualFold(c, "ALL") {
			caps = nil
			b.CapDrop = append(b.CapDrop, "ALL")
			continue
		}
		name, err := capabilities.FromFlag(c)
		if err != nil {
			return nil, fmt.Errorf("--cap-drop: %w", err)
		}
		b.CapDrop = append(b.CapDrop, name)
		caps = slices.DeleteFunc(caps, func(x string) bool { return x == name })
	}
	effective := caps
	if u.UID != 0 {
		effective = []string{}
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Effective: effective, Permitted: effective,
	}
	s.Process.NoNewPrivileges = !o.Privileged && sec.noNewPrivs
	if !sec.noNewPrivs && !o.Privileged {
		relax(2, "--security-opt no-new-privileges=false", "setuid programs and file capabilities may raise privileges")
	}

	// Wall 3: seccomp, recomputed for the final capabilities (some
	// syscalls are allowed only with the capability that governs them).
	b.Seccomp = "default"
	switch {
	case o.Privileged:
		s.Linux.Seccomp = nil
		b.Seccomp = "unconfined"
	case sec.seccomp == "unconfined":
		b.Seccomp = "unconfined"
		s.Linux.Seccomp = nil
		relax(3, "--security-opt seccomp=unconfined", "no seccomp filter: every syscall is allowed")
	case sec.seccomp != "":
		data, err := os.ReadFile(sec.seccomp)
		if err != nil {
			return nil, fmt.Errorf("--security-opt seccomp=%s: %w", sec.seccomp, err)
		}
		p, err := seccomp.ParseProfile(data)
		if err != nil {
			return nil, fmt.Errorf("--security-opt seccomp=%s: %w", sec.seccomp, err)
		}
		var uts unix.Utsname
		_ = unix.Uname(&uts)
		s.Linux.Seccomp = p.Resolve(caps, goruntime.GOARCH, unix.ByteSliceToString(uts.Release[:]))
		relax(3, "--security-opt seccomp="+sec.seccomp, "a custom seccomp profile replaces Tirith's default")
		b.Seccomp = "custom"
	default:
		s.Linux.Seccomp = seccomp.Default(caps)
	}

	// Wall 5: network none (the default's empty netns, lo up as in
	// Docker: 127.0.0.1 works) or host.
	switch o.Network {
	case "", "none":
		s.Annotations[network.LoopbackAnnotation] = "up"
	case "host":
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
		relax(5, "--network host", "the host's network stack is shared (no network namespace)")
	default:
		return nil, fmt.Errorf("--network %q: want none or host (bridge networking is not implemented yet)", o.Network)
	}

	// Wall 7 (and 4): mounts.
	var rwPaths []string
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
			return nil, err
		}
		s.Mounts = append(s.Mounts, m)
		if rw {
			rwPaths = append(rwPaths, m.Destination)
			relax(7, "--volume "+v, "host directory "+m.Source+" is writable from the container")
		}
	}
	for _, t := range o.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, m)
		rwPaths = append(rwPaths, m.Destination)
	}
	if in.EtcSource != "" {
		// The names the container resolves without DNS: localhost and
		// its own hostname (writeEtc), read-only like the rootfs.
		for _, f := range []string{"hosts", "hostname"} {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(in.EtcSource, f),
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	for _, sv := range o.Secrets {
		so, err := parseSecret(sv)
		if err != nil {
			return nil, err
		}
		for _, prev := range b.secrets {
			if prev.Target == so.Target {
				return nil, fmt.Errorf("--secret %q: target %q given twice", sv, so.Target)
			}
		}
		b.secrets = append(b.secrets, so)
	}
	if len(b.secrets) > 0 {
		// Bound after the /run tmpfs so that it lands on top of it.
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: SecretsDir, Type: "bind", Source: in.SecretsSource,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
	}

	// Wall 6: resources.
	r := s.Linux.Resources
	mem := int64(DefaultMemory)
	if o.Memory != "" {
		if mem, err = units.ParseSize(o.Memory); err != nil {
			return nil, fmt.Errorf("--memory: %w", err)
		}
	}
	swap := mem
	if o.MemorySwap != "" {
		if swap, err = units.ParseSize(o.MemorySwap); err != nil {
			return nil, fmt.Errorf("--memory-swap: %w", err)
		}
		if swap > 0 && mem > 0 && swap < mem {
			return nil, fmt.Errorf("--memory-swap %s: must be at least --memory (it is memory plus swap)", o.MemorySwap)
		}
		if swap < 0 {
			relax(6, "--memory-swap -1", "unlimited swap")
		} else if swap > mem {
			relax(6, "--memory-swap", "the container may swap")
		}
	}
	if mem <= 0 {
		relax(6, "--memory "+o.Memory, "no memory limit")
		if o.MemorySwap == "" {
			swap = -1
		}
	} else {
		if mem < 6<<20 {
			return nil, fmt.Errorf("--memory %s: the minimum is 6m", o.Memory)
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
			relax(6, "--pids-limit", "no limit on the number of processes (fork bombs)")
		} else {
			n := *o.PidsLimit
			r.Pids = &specs.LinuxPids{Limit: &n}
		}
	}
	if o.CPUs != "" {
		f, err := strconv.ParseFloat(o.CPUs, 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("--cpus %q: want a positive number such as 1.5", o.CPUs)
		}
		period := uint64(100000)
		quota := int64(f * float64(period))
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if o.CPUShares != 0 {
		if o.CPUShares < 2 {
			return nil, fmt.Errorf("--cpu-shares %d: the minimum is 2", o.CPUShares)
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
			return nil, err
		}
		// A bind mount of the host node, not mknod: mknod is refused in
		// a user namespace, and runtime-spec's linux.devices has no host
		// path (a runtime binds the node from the same path on the host).
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: dev.Path, Type: "bind", Source: hostDevice(d),
			Options: []string{"bind", "nosuid", "noexec"},
		})
		r.Devices = append(r.Devices, rule)
		relax(6, "--device "+d, "host device "+strings.SplitN(d, ":", 2)[0]+" is reachable from the container")
	}
	for _, ul := range o.Ulimits {
		rl, err := parseUlimit(ul)
		if err != nil {
			return nil, err
		}
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(x specs.POSIXRlimit) bool { return x.Type == rl.Type })
		s.Process.Rlimits = append(s.Process.Rlimits, rl)
	}

	// Wall 4: Landlock and the other LSMs.
	switch {
	case o.Privileged:
		delete(s.Annotations, landlock.Annotation)
	case sec.landlock == "off":
		delete(s.Annotations, landlock.Annotation)
		relax(4, "--security-opt landlock=off", "no Landlock policy: the payload may open and execute any file it has permission for")
	case sec.landlock != "":
		data, err := os.ReadFile(sec.landlock)
		if err != nil {
			return nil, fmt.Errorf("--security-opt landlock=%s: %w", sec.landlock, err)
		}
		p, err := landlock.Parse(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("--security-opt landlock=%s: %w", sec.landlock, err)
		}
		s.Annotations[landlock.Annotation] = p.String()
		relax(4, "--security-opt landlock="+sec.landlock, "a custom Landlock policy replaces Tirith's default")
	default:
		p := spec.DefaultLandlock()
		if !o.ReadOnly {
			rwPaths = append(rwPaths, "/")
			relax(4, "--read-only=false", "programs the container writes into the image's directories can be executed (writable mounts still cannot)")
		}
		for _, d := range rwPaths {
			if !under(d, p.ReadWrite) {
				p.ReadWrite = append(p.ReadWrite, d)
			}
		}
		p.Execute, p.NoExecute = executeSplit(s.Mounts)
		s.Annotations[landlock.Annotation] = p.String()
	}
	if sec.apparmor != "" {
		if sec.apparmor == "unconfined" {
			relax(4, "--security-opt apparmor=unconfined", "no AppArmor profile")
		} else {
			s.Process.ApparmorProfile = sec.apparmor
		}
	}
	if sec.labelDisable {
		relax(4, "--security-opt label=disable", "no SELinux labels")
	}
	b.Spec = s
	return b, spec.Validate(s)
}

type securityOpts struct {
	seccomp, landlock, apparmor string
	noNewPrivs, labelDisable    bool
	setgroupsDeny               bool
}

func parseSecurityOpts(opts []string) (securityOpts, error) {
	so := securityOpts{noNewPrivs: true}
	for _, o := range opts {
		// Docker accepts both key=value and the older key:value.
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, ok = strings.Cut(o, ":")
		}
		switch k {
		case "seccomp":
			if v == "" {
				return so, fmt.Errorf("--security-opt %q: want seccomp=FILE or seccomp=unconfined", o)
			}
			so.seccomp = v
		case "landlock":
			if v == "" {
				return so, fmt.Errorf("--security-opt %q: want landlock=FILE or landlock=off", o)
			}
			so.landlock = v
		case "no-new-privileges":
			if !ok {
				v = "true"
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, fmt.Errorf("--security-opt %q: want no-new-privileges=true|false", o)
			}
			so.noNewPrivs = b
		case "apparmor":
			if v == "" {
				return so, fmt.Errorf("--security-opt %q: want apparmor=PROFILE or apparmor=unconfined", o)
			}
			so.apparmor = v
		case "setgroups":
			if v != "deny" && v != "allow" {
				return so, fmt.Errorf("--security-opt %q: want setgroups=deny or setgroups=allow (the default)", o)
			}
			so.setgroupsDeny = v == "deny"
		case "label":
			if v != "disable" {
				return so, fmt.Errorf("--security-opt %q: only label=disable is supported (SELinux labels are not implemented yet)", o)
			}
			so.labelDisable = true
		default:
			return so, fmt.Errorf("--security-opt %q: unknown option (want seccomp, landlock, no-new-privileges, apparmor, label, setgroups)", o)
		}
	}
	return so, nil
}

// buildEnv merges the image's Env, Docker's defaults and the flags: later
// entries replace earlier ones with the same name.
func buildEnv(image []string, o *Options, hostname, home string) ([]string, []string, error) {
	var warns []string
	var order []string
	vals := map[string]string{}
	set := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH=" + spec.DefaultPath)
	for _, kv := range image {
		set(kv)
	}
	set("HOSTNAME=" + hostname)
	if _, ok := vals["HOME"]; !ok {
		set("HOME=" + home)
	}
	if o.TTY {
		set("TERM=xterm")
	}
	var user []string
	for _, f := range o.EnvFiles {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--env-file %s: %w", f, err)
		}
		user = append(user, lines...)
	}
	user = append(user, o.Env...)
	for _, kv := range user {
		k, _, hasVal := strings.Cut(kv, "=")
		if k == "" {
			return nil, nil, fmt.Errorf("--env %q: empty variable name", kv)
		}
		if !hasVal {
			// `-e NAME` passes the caller's value, or nothing.
			if o.LookupEnv == nil {
				continue
			}
			v, ok := o.LookupEnv(k)
			if !ok {
				continue
			}
			kv = k + "=" + v
		}
		if looksSecret(k) {
			warns = append(warns, fmt.Sprintf("--env %s: looks like a secret; environment variables leak (/proc/PID/environ, child processes, logs): use --secret %s-file,target=%s", k, strings.ToLower(k), strings.ToLower(k)))
		}
		set(kv)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, warns, nil
}

// readEnvFile reads Docker's env-file format: KEY=VALUE or KEY lines,
// # comments, no quoting.
func readEnvFile(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// parseVolume parses -v SRC:DST[:ro|rw]. Only bind mounts of absolute
// host paths: named volumes are not implemented.
func parseVolume(v string) (specs.Mount, bool, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return specs.Mount{}, false, fmt.Errorf("--volume %q: want HOST_PATH:CONTAINER_PATH[:ro]", v)
	}
	src, dst := parts[0], parts[1]
	if !filepath.IsAbs(src) {
		return specs.Mount{}, false, fmt.Errorf("--volume %q: %q must be an absolute host path (named volumes are not supported)", v, src)
	}
	if !path.IsAbs(dst) || path.Clean(dst) == "/" {
		return specs.Mount{}, false, fmt.Errorf("--volume %q: %q must be an absolute container path other than /", v, dst)
	}
	if _, err := os.Stat(src); err != nil {
		return specs.Mount{}, false, fmt.Errorf("--volume %q: %w", v, err)
	}
	rw := true
	// nosuid/nodev: a host directory must not bring setuid programs or
	// device nodes into the container.
	opts := []string{"rbind", "nosuid", "nodev"}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				rw = false
			case "rw":
				rw = true
			default:
				return specs.Mount{}, false, fmt.Errorf("--volume %q: unknown option %q (want ro or rw)", v, o)
			}
		}
	}
	if !rw {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "bind", Source: filepath.Clean(src), Options: opts}, rw, nil
}

// parseTmpfs parses --tmpfs DST[:opts]: noexec,nosuid,nodev and a size
// cap unless the options say otherwise (later options win).
func parseTmpfs(t string) (specs.Mount, error) {
	dst, opts, _ := strings.Cut(t, ":")
	if !path.IsAbs(dst) || path.Clean(dst) == "/" {
		return specs.Mount{}, fmt.Errorf("--tmpfs %q: %q must be an absolute container path other than /", t, dst)
	}
	// tmpcopyup, as podman: the tmpfs starts with the image's files
	// there (a program's state dir keeps its owner and skeleton).
	o := []string{"nosuid", "nodev", "noexec", "mode=1777", "tmpcopyup"}
	sized := false
	if opts != "" {
		for _, x := range strings.Split(opts, ",") {
			if strings.HasPrefix(x, "size=") {
				sized = true
			}
			o = append(o, x)
		}
	}
	if !sized {
		o = append(o, "size=65536k")
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: o}, nil
}

func hostDevice(d string) string { return strings.SplitN(d, ":", 2)[0] }

// parseDevice parses --device HOST[:CONTAINER[:rwm]].
func parseDevice(d string) (specs.LinuxDevice, specs.LinuxDeviceCgroup, error) {
	parts := strings.Split(d, ":")
	host, cont, perms := parts[0], parts[0], "rwm"
	if len(parts) > 1 && parts[1] != "" {
		cont = parts[1]
	}
	if len(parts) > 2 {
		perms = parts[2]
	}
	if len(parts) > 3 || perms == "" || strings.Trim(perms, "rwm") != "" {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("--device %q: want HOST[:CONTAINER[:rwm]]", d)
	}
	if !path.IsAbs(cont) {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("--device %q: %q must be absolute", d, cont)
	}
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("--device %q: %w", d, &fs.PathError{Op: "stat", Path: host, Err: err})
	}
	typ := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, specs.LinuxDeviceCgroup{}, fmt.Errorf("--device %q: %s is not a device node", d, host)
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	mode := fs.FileMode(st.Mode & 0o777)
	dev := specs.LinuxDevice{Path: cont, Type: typ, Major: major, Minor: minor, FileMode: &mode}
	rule := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms}
	return dev, rule, nil
}

// parseUlimit parses --ulimit NAME=SOFT[:HARD].
func parseUlimit(u string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(u, "=")
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: want NAME=SOFT[:HARD]", u)
	}
	typ := "RLIMIT_" + strings.ToUpper(name)
	if _, ok := spec.Rlimit(typ); !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: unknown limit %q", u, name)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	parse := func(s string) (uint64, error) {
		if s == "-1" || s == "unlimited" {
			return ^uint64(0), nil
		}
		return strconv.ParseUint(s, 10, 64)
	}
	soft, err := parse(softS)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: soft limit %q: want a number", u, softS)
	}
	hard := soft
	if hasHard {
		if hard, err = parse(hardS); err != nil {
			return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: hard limit %q: want a number", u, hardS)
		}
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("--ulimit %q: soft limit above hard limit", u)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// executeSplit is the default policy's execute/noExecute pair for these
// mounts: everything, minus every mount the container can write (each
// mount not marked "ro": the scratch tmpfs, /dev, rw volumes, --tmpfs),
// plus the read-only volumes that lie beneath one of those (their files
// cannot be written, so they may run). Landlock expands it against the
// container's real mounts when it applies the policy.
func executeSplit(mounts []specs.Mount) (execute, noExecute []string) {
	execute = []string{"/"}
	for _, m := range mounts {
		if !slices.Contains(m.Options, "ro") && !under(path.Clean(m.Destination), noExecute) {
			noExecute = slices.DeleteFunc(noExecute, func(d string) bool { return under(d, []string{path.Clean(m.Destination)}) })
			noExecute = append(noExecute, path.Clean(m.Destination))
		}
	}
	for _, m := range mounts {
		d := path.Clean(m.Destination)
		if m.Type == "bind" && slices.Contains(m.Options, "ro") && !slices.Contains(m.Options, "noexec") && under(d, noExecute) {
			execute = append(execute, d)
		}
	}
	return execute, noExecute
}

// under says whether p is one of dirs or beneath one.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
