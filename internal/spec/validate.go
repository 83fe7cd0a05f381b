package spec

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/rootfs"
)

// Validate checks what the runtime needs before it touches anything, and
// names the field at fault. Seccomp and cgroup resources are checked by
// their own packages when applied.
func Validate(s *specs.Spec) error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if err := checkVersion(s.Version); err != nil {
		add("ociVersion", "%v", err)
	}
	if s.Root == nil || s.Root.Path == "" {
		add("root.path", "required")
	}
	if s.Process == nil {
		add("process", "required")
	} else {
		validateProcess(s.Process, "process", add)
	}
	for i, m := range s.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			add(f+".destination", "required")
		}
		bind := rootfs.ParseOptions(m.Options).Bind
		if m.Type == "" && !bind {
			add(f+".type", "required unless options contain bind or rbind")
		}
		if m.Destination != "" {
			if err := rootfs.CheckProcDestination(filepath.Clean("/"+m.Destination), m.Type, bind); err != nil {
				add(fmt.Sprintf("%s.destination %q", f, m.Destination), "%v", err)
			}
		}
	}
	if s.Hooks != nil {
		//nolint:staticcheck // Prestart is deprecated but still honoured.
		for name, hs := range map[string][]specs.Hook{
			"prestart": s.Hooks.Prestart, "createRuntime": s.Hooks.CreateRuntime,
			"createContainer": s.Hooks.CreateContainer, "startContainer": s.Hooks.StartContainer,
			"poststart": s.Hooks.Poststart, "poststop": s.Hooks.Poststop,
		} {
			for i, h := range hs {
				if !filepath.IsAbs(h.Path) {
					add(fmt.Sprintf("hooks.%s[%d].path", name, i), "must be absolute, got %q", h.Path)
				}
				if h.Timeout != nil && *h.Timeout <= 0 {
					add(fmt.Sprintf("hooks.%s[%d].timeout", name, i), "must be positive")
				}
			}
		}
	}
	if v, ok := s.Annotations[landlock.Annotation]; ok {
		if _, err := landlock.Parse(v); err != nil {
			add(fmt.Sprintf("annotations[%q]", landlock.Annotation), "%v", err)
		}
	}
	if v, ok := s.Annotations[rootfs.IdmapAnnotation]; ok {
		switch {
		case v != "true" && v != "false" && v != "chown":
			add(fmt.Sprintf("annotations[%q]", rootfs.IdmapAnnotation), "must be \"true\", \"chown\" or \"false\", got %q", v)
		case v != "false" && (s.Linux == nil || !userNSIsNew(s.Linux)):
			add(fmt.Sprintf("annotations[%q]", rootfs.IdmapAnnotation), "needs a new user namespace")
		}
	}
	if v, ok := s.Annotations[SetgroupsAnnotation]; ok {
		switch {
		case v != "deny" && v != "allow":
			add(fmt.Sprintf("annotations[%q]", SetgroupsAnnotation), "must be \"deny\" or \"allow\", got %q", v)
		case v == "deny" && (s.Linux == nil || !userNSIsNew(s.Linux)):
			add(fmt.Sprintf("annotations[%q]", SetgroupsAnnotation), "needs a new user namespace")
		case v == "deny" && s.Process != nil && len(s.Process.User.AdditionalGids) > 0:
			add("process.user.additionalGids", "cannot be set when setgroups is denied (%s)", SetgroupsAnnotation)
		}
	}
	if v, ok := s.Annotations[network.LoopbackAnnotation]; ok {
		switch {
		case v != "up":
			add(fmt.Sprintf("annotations[%q]", network.LoopbackAnnotation), "must be \"up\", got %q", v)
		case s.Linux == nil || !namespaces.In(s.Linux.Namespaces, specs.NetworkNamespace):
			// Without one, lo would be the host's.
			add(fmt.Sprintf("annotations[%q]", network.LoopbackAnnotation), "needs a network namespace")
		}
	}
	if s.Linux == nil {
		add("linux", "required on Linux")
	} else {
		validateLinux(s, add)
	}
	return errors.Join(errs...)
}

// checkVersion accepts every 1.x.y up to the spec version we build against.
func checkVersion(v string) error {
	if v == "" {
		return errors.New("required")
	}
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%q is not a semantic version", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return fmt.Errorf("%q is not a semantic version", v)
		}
		n[i] = x
	}
	if n[0] != specs.VersionMajor || n[1] > specs.VersionMinor {
		return fmt.Errorf("version %q is not supported (this runtime implements %s)", v, specs.Version)
	}
	return nil
}

// ValidateProcess checks a process object (also used by exec --process).
func ValidateProcess(p *specs.Process) error {
	var errs []error
	validateProcess(p, "process", func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	})
	return errors.Join(errs...)
}

func validateProcess(p *specs.Process, f string, add func(string, string, ...any)) {
	if len(p.Args) == 0 {
		add(f+".args", "at least one argument is required")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		add(f+".cwd", "must be an absolute path, got %q", p.Cwd)
	} else if strings.HasPrefix(filepath.Clean(p.Cwd), "/proc/") {
		// /proc/self/fd/N and /proc/PID/cwd lead wherever an open
		// fd or another process is: possibly outside the container.
		add(f+".cwd", "%q is under /proc, whose links may lead outside the container's root", p.Cwd)
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") {
			add(fmt.Sprintf("%s.env[%d]", f, i), "%q is not KEY=VALUE", e)
		}
	}
	if c := p.Capabilities; c != nil {
		for set, names := range map[string][]string{
			"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
			"permitted": c.Permitted, "ambient": c.Ambient,
		} {
			for i, n := range names {
				if _, err := caps.Lookup(n); err != nil {
					add(fmt.Sprintf("%s.capabilities.%s[%d]", f, set, i), "%v", err)
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		field := fmt.Sprintf("%s.rlimits[%d]", f, i)
		if _, ok := Rlimit(r.Type); !ok {
			add(field+".type", "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			add(field+".type", "duplicate rlimit %q", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			add(field, "soft limit %d exceeds hard limit %d", r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		add(f+".oomScoreAdj", "must be between -1000 and 1000, got %d", *p.OOMScoreAdj)
	}
	if io := p.IOPriority; io != nil {
		switch io.Class {
		case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
		default:
			add(f+".ioPriority.class", "unknown class %q", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			add(f+".ioPriority.priority", "must be between 0 and 7, got %d", io.Priority)
		}
	}
	if s := p.Scheduler; s != nil {
		if _, ok := SchedPolicies[s.Policy]; !ok {
			add(f+".scheduler.policy", "unknown policy %q", s.Policy)
		}
	}
	if p.Terminal && p.ConsoleSize != nil && (p.ConsoleSize.Height == 0 || p.ConsoleSize.Width == 0) {
		add(f+".consoleSize", "height and width must be non-zero")
	}
}

// SchedPolicies maps runtime-spec scheduler policies to the kernel's numbers.
var SchedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

func validateLinux(s *specs.Spec, add func(string, string, ...any)) {
	l := s.Linux
	ns := map[specs.LinuxNamespaceType]bool{}
	for i, n := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if !namespaces.Known(n.Type) {
			add(f+".type", "unknown namespace type %q", n.Type)
			continue
		}
		if ns[n.Type] {
			add(f+".type", "duplicate namespace %q", n.Type)
		}
		ns[n.Type] = true
		if n.Path != "" && !filepath.IsAbs(n.Path) {
			add(f+".path", "must be absolute, got %q", n.Path)
		}
	}
	if !ns[specs.UserNamespace] && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
		add("linux.uidMappings", "id mappings need a user namespace")
	}
	if ns[specs.UserNamespace] && userNSIsNew(l) && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		add("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
	}
	if s.Hostname != "" && !ns[specs.UTSNamespace] {
		add("hostname", "setting the hostname needs a uts namespace (it would change the host's)")
	}
	if s.Domainname != "" && !ns[specs.UTSNamespace] {
		add("domainname", "setting the domainname needs a uts namespace (it would change the host's)")
	}
	for k := range l.Sysctl {
		if err := checkSysctl(k, ns); err != nil {
			add(fmt.Sprintf("linux.sysctl[%q]", k), "%v", err)
		}
	}
	if l.TimeOffsets != nil && !ns[specs.TimeNamespace] {
		add("linux.timeOffsets", "needs a time namespace")
	}
	for k := range l.TimeOffsets {
		if k != "monotonic" && k != "boottime" {
			add(fmt.Sprintf("linux.timeOffsets[%q]", k), "unknown clock (want monotonic or boottime)")
		}
	}
	if len(l.MaskedPaths) > 0 || len(l.ReadonlyPaths) > 0 || l.RootfsPropagation != "" {
		if !ns[specs.MountNamespace] {
			add("linux.namespaces", "maskedPaths, readonlyPaths and rootfsPropagation need a mount namespace")
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		add("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, d := range l.Devices {
		f := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			add(f+".path", "must be absolute, got %q", d.Path)
		}
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			add(f+".type", "unknown device type %q", d.Type)
		}
	}
}

func userNSIsNew(l *specs.Linux) bool {
	for _, n := range l.Namespaces {
		if n.Type == specs.UserNamespace {
			return n.Path == ""
		}
	}
	return false
}

// checkSysctl refuses sysctls that are not namespaced by a namespace the
// container has: writing them would change the host (runc's rule).
func checkSysctl(key string, ns map[specs.LinuxNamespaceType]bool) error {
	k := strings.ReplaceAll(key, "/", ".")
	switch {
	case k == "kernel.msgmax" || k == "kernel.msgmnb" || k == "kernel.msgmni" || k == "kernel.sem" ||
		k == "kernel.shmall" || k == "kernel.shmmax" || k == "kernel.shmmni" ||
		k == "kernel.shm_rmid_forced" || strings.HasPrefix(k, "fs.mqueue."):
		if !ns[specs.IPCNamespace] {
			return errors.New("needs an ipc namespace")
		}
	case strings.HasPrefix(k, "net."):
		if !ns[specs.NetworkNamespace] {
			return errors.New("needs a network namespace")
		}
	case k == "kernel.hostname" || k == "kernel.domainname":
		return errors.New("set hostname/domainname instead")
	default:
		return errors.New("not namespaced: it would change the host")
	}
	return nil
}
