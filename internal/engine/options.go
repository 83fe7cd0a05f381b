package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tirith-project/tirith/internal/spec"
)

// DefaultMemory is the memory limit of a front-end container without
// --memory: the hardened spec's (wall 6), swap capped to the same value.
const DefaultMemory = spec.DefaultMemory

// Options are `tirith run`'s flags, with Docker's meanings.
type Options struct {
	Image string
	// Cmd is what follows IMAGE on the command line.
	Cmd []string
	// Entrypoint, when set (even to ""), replaces the image's
	// ENTRYPOINT and resets its CMD, as in Docker.
	Entrypoint *string

	Name        string
	Detach      bool
	Remove      bool
	Interactive bool
	TTY         bool

	Env      []string
	EnvFiles []string
	Workdir  string
	User     string
	Hostname string

	Volumes      []string
	Tmpfs        []string
	ReadOnly     bool
	CapAdd       []string
	CapDrop      []string
	SecurityOpts []string
	Privileged   bool
	Userns       string
	Network      string

	Memory     string
	MemorySwap string
	CPUs       string
	CPUShares  int64
	// PidsLimit: nil for the default; 0 or -1 for unlimited.
	PidsLimit *int64
	Devices   []string
	Ulimits   []string
	Secrets   []string

	// LookupEnv resolves `-e NAME` (no value) from the caller's
	// environment; nil means such entries are dropped.
	LookupEnv func(string) (string, bool)
}

// Relaxation is one flag that weakens one wall. Every relaxation is
// printed as a warning and kept in the container's record.
type Relaxation struct {
	Wall int    `json:"wall"`
	Flag string `json:"flag"`
	What string `json:"what"`
}

// WallNames are the seven walls (docs/architecture.md).
var WallNames = map[int]string{
	1: "identity", 2: "privileges", 3: "syscalls", 4: "mandatory access",
	5: "namespaces", 6: "resources", 7: "filesystem",
}

// String is the warning text: "--privileged: wall 2 (privileges): ...".
func (r Relaxation) String() string {
	return fmt.Sprintf("%s: wall %d (%s): %s", r.Flag, r.Wall, WallNames[r.Wall], r.What)
}

// secretOpt is one parsed --secret.
type secretOpt struct {
	Source string
	Target string
	Mode   uint32
	UID    *uint32
	GID    *uint32
}

func parseSecret(s string) (secretOpt, error) {
	parts := strings.Split(s, ",")
	o := secretOpt{Source: parts[0], Mode: 0o400}
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
