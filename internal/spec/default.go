package spec

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/subid"
)

// DefaultPath is the PATH a container gets when neither its image nor
// its spec sets one, and the one the init searches for the payload then
// (Docker's and runc's value).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is Docker's default set minus NET_RAW (raw sockets:
// ARP/ICMP spoofing on the container network) and MKNOD (device nodes;
// the device cgroup is the only other thing in the way). Each one kept is
// something ordinary images need at start-up.
var DefaultCapabilities = []string{
	"CAP_CHOWN",            // package managers, entrypoints fixing ownership
	"CAP_DAC_OVERRIDE",     // root reading files it does not own
	"CAP_FSETID",           // keep setgid bits when root writes files
	"CAP_FOWNER",           // chmod/utime on files root does not own
	"CAP_SETGID",           // drop to an unprivileged group
	"CAP_SETUID",           // drop to an unprivileged user
	"CAP_SETPCAP",          // drop capabilities (bounding set)
	"CAP_NET_BIND_SERVICE", // listen on ports below 1024
	"CAP_SYS_CHROOT",       // chroot-using tools (some daemons)
	"CAP_KILL",             // signal processes of other uids in the container
	"CAP_AUDIT_WRITE",      // login-style tools writing audit records
}

// DefaultMaskedPaths hide kernel interfaces that leak host information or
// offer a way out (runc's and moby's list, plus /proc/kallsyms addresses).
var DefaultMaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/proc/kallsyms", "/sys/firmware", "/sys/devices/virtual/powercap",
	"/proc/interrupts",
}

// DefaultReadonlyPaths are kernel knobs the container may read, not set.
var DefaultReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// DefaultPidsLimit stops fork bombs (wall 6) while leaving room for
// ordinary multi-process services.
const DefaultPidsLimit = 1024

// Default returns Tirith's hardened config.json: every wall that
// config.json can express is up. userns adds a user namespace mapping
// container root to an unprivileged host range. It is the base the front
// end builds on; ForBundle is what `tirith-runc spec` writes.
func Default(userns bool) *specs.Spec {
	caps := append([]string(nil), DefaultCapabilities...)
	pids := int64(DefaultPidsLimit)
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env:      []string{"PATH=" + DefaultPath, "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "tirith",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			// The root is read-only: scratch space is size-capped and
			// can hold no executables, setuid files or devices. It
			// starts with what the image has there (tmpcopyup):
			// /run/postgresql, /run/lock ... with their owners.
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", "tmpcopyup"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "nodev", "mode=755", "size=65536k", "tmpcopyup"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Pids:    &specs.LinuxPids{Limit: &pids},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			Seccomp:       seccomp.Default(caps),
			MaskedPaths:   append([]string(nil), DefaultMaskedPaths...),
			ReadonlyPaths: append([]string(nil), DefaultReadonlyPaths...),
		},
	}
	// Wall 4: Landlock lets the payload read and run the image, write
	// only to the scratch mounts and /dev, run nothing from them, and
	// reach no abstract socket outside.
	s.Annotations = map[string]string{landlock.Annotation: DefaultLandlock().String()}
	if userns {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		host, size := unprivilegedRange()
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
	}
	return s
}

// DefaultMemory is the memory limit of Tirith's containers (wall 6), with
// swap equal to it (no swap): enough for ordinary services, and a runaway
// one is OOM-killed inside its cgroup instead of pressing on the host.
const DefaultMemory = 512 << 20

// HostCapabilities is the whole capability set of a container without a
// user namespace: there container root's capabilities act on the host's
// own files and processes, so it gets runc's three (`runc spec`) and
// nothing that grants power over files (CHOWN, DAC_OVERRIDE, FOWNER,
// SETUID ...).
var HostCapabilities = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// BundleOptions choose what `tirith-runc spec` writes.
type BundleOptions struct {
	// Rootless is for an unprivileged caller: the user namespace maps
	// only the caller's own uid, and setgroups is denied (the kernel
	// demands it before an unprivileged process may write a gid map).
	Rootless bool
	// HostIDs leaves the user namespace out: container root is host root,
	// with HostCapabilities only.
	HostIDs bool
}

// ForBundle returns the config.json `tirith-runc spec` writes: what the front
// end enforces. By default container root is an unprivileged host range
// in a user namespace of its own, the rootfs is idmapped into it (so an
// image owned by host root needs no chown), memory is 512 MiB without
// swap and pids 1024.
func ForBundle(o BundleOptions) *specs.Spec {
	if o.HostIDs {
		s := Default(false)
		caps := append([]string(nil), HostCapabilities...)
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: append([]string(nil), caps...)}
		s.Linux.Seccomp = seccomp.Default(caps)
		setMemory(s)
		return s
	}
	s := Default(true)
	if o.Rootless {
		// An unprivileged user can neither set cgroup limits without
		// delegation nor make idmapped mounts: the map of its own uid
		// makes its files root's inside.
		s.Annotations[SetgroupsAnnotation] = "deny"
		return s
	}
	s.Annotations[rootfs.IdmapAnnotation] = "true"
	setMemory(s)
	return s
}

func setMemory(s *specs.Spec) {
	mem := int64(DefaultMemory)
	swap := mem
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &swap}
}

// SetgroupsAnnotation set to "deny" makes the runtime write "deny" to the
// new user namespace's /proc/PID/setgroups before its gid map: no
// process in the container can then drop supplementary groups, which
// would let it slip past files whose group is denied access (the
// negative-permission trap setgroups(2) opens in a user namespace).
// The kernel requires it only where an unprivileged process writes its
// own gid map (its host groups would follow it in); when root writes the
// map, every gid the container can hold lies in its own range, so
// setgroups stays allowed (privilege-dropping programs need it) unless
// this asks otherwise. The container's additionalGids must then be empty.
const SetgroupsAnnotation = "io.github.tirith.setgroups"

// SetgroupsDenied reports whether s asks for setgroups to be denied.
func SetgroupsDenied(s *specs.Spec) bool { return s.Annotations[SetgroupsAnnotation] == "deny" }

// DefaultLandlock is the Landlock policy of the hardened spec: every
// program in the (read-only) root runs, nothing on the writable mounts
// does. The front end recomputes noExecute from the container's mounts.
func DefaultLandlock() *landlock.Policy {
	return &landlock.Policy{
		ReadOnly:  []string{"/"},
		Execute:   []string{"/"},
		NoExecute: []string{"/tmp", "/run", "/dev"},
		ReadWrite: []string{"/tmp", "/run", "/dev"},
		// Abstract unix sockets are scoped; signals are not: processes
		// started by `tirith exec` live in a Landlock domain of their
		// own and must still be able to signal the container's init.
		Scope: []string{"abstract-unix-socket"},
	}
}

// unprivilegedRange picks the host ids for container root: as a normal
// user, our own uid (the only one we may map); as root, root's range in
// /etc/subuid, else 100000+65536 (the conventional first subordinate range).
func unprivilegedRange() (host, size uint32) {
	if uid := os.Geteuid(); uid != 0 {
		return uint32(uid), 1
	}
	for _, r := range subid.Parse("/etc/subuid") {
		if (r.Owner == "root" || r.Owner == "0") && r.Start > 0 {
			return uint32(r.Start), uint32(r.Size)
		}
	}
	return 100000, 65536
}
