package specgen

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/spec"
)

// The parsers of `tirith run`'s flag values, Docker's syntax. Each error
// names the flag and the value at fault. Fuzzed in fuzz_test.go.

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
				return so, fmt.Errorf("--security-opt %q: want seccomp=FILE, seccomp=auto or seccomp=unconfined", o)
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

// Secret is one parsed --secret: the host file Source becomes
// SecretsDir/Target, with Mode and, when given, UID and GID.
type Secret struct {
	Source string
	Target string
	Mode   uint32
	UID    *uint32
	GID    *uint32
}

func parseSecret(s string) (Secret, error) {
	parts := strings.Split(s, ",")
	o := Secret{Source: parts[0], Mode: 0o400}
	if o.Source == "" {
		return o, fmt.Errorf("--secret %q: a source file is required", s)
	}
	if i := strings.LastIndex(o.Source, "/"); i >= 0 {
		o.Target = o.Source[i+1:]
	} else {
		o.Target = o.Source
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return o, fmt.Errorf("--secret %q: option %q: want key=value", s, p)
		}
		switch k {
		case "target", "dst", "destination":
			o.Target = v
		case "mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o777 {
				return o, fmt.Errorf("--secret %q: mode %q: want octal permission bits", s, v)
			}
			o.Mode = uint32(m)
		case "uid", "gid":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, fmt.Errorf("--secret %q: %s %q: want a number", s, k, v)
			}
			u := uint32(n)
			if k == "uid" {
				o.UID = &u
			} else {
				o.GID = &u
			}
		default:
			return o, fmt.Errorf("--secret %q: unknown option %q (want target, mode, uid, gid)", s, k)
		}
	}
	// The target is a file name in /run/secrets, never a path: nothing
	// may land outside the secrets tmpfs.
	if o.Target == "" || o.Target == "." || o.Target == ".." || strings.Contains(o.Target, "/") {
		return o, fmt.Errorf("--secret %q: target %q must be a plain file name", s, o.Target)
	}
	return o, nil
}

// looksSecret says whether an environment variable name suggests a
// credential: secrets belong in files (--secret), because the
// environment leaks into /proc/PID/environ, child processes, crash
// reports and `inspect` output.
func looksSecret(name string) bool {
	n := strings.ToUpper(name)
	return strings.HasSuffix(n, "_TOKEN") || n == "TOKEN" || strings.Contains(n, "PASSWORD") ||
		strings.Contains(n, "SECRET") || strings.HasSuffix(n, "_KEY") || strings.Contains(n, "PASSWD")
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
