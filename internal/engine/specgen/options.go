package specgen

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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
	// Publish are the -p flags.
	Publish []string

	Memory     string
	MemorySwap string
	CPUs       string
	CPUShares  int64
	// PidsLimit: nil for the default; 0 or -1 for unlimited.
	PidsLimit *int64
	Devices   []string
	Ulimits   []string
	Secrets   []string

	// Seccomp, when set, replaces the filter SecurityOpts would give:
	// the recording filter of `seccomp generate --trace`, or the profile
	// `--security-opt seccomp=auto` generated.
	Seccomp *SeccompOverride

	// LookupEnv resolves `-e NAME` (no value) from the caller's
	// environment; nil means such entries are dropped.
	LookupEnv func(string) (string, bool)
}

// SeccompOverride is a filter made by Tirith for this container.
type SeccompOverride struct {
	Profile *specs.LinuxSeccomp
	Name    string // for the record and inspect: "trace", "auto"
	// Relaxation, if set, is printed and recorded as a wall 3
	// relaxation by Flag.
	Flag, Relaxation string
}

// Relaxation is one flag that weakens one wall. Every relaxation is
// printed as a warning and kept in the container's record.
type Relaxation struct {
	Wall int    `json:"wall"`
	Flag string `json:"flag"`
	What string `json:"what"`
}

// String is the warning text: "--privileged: wall 2 (privileges): ...".
func (r Relaxation) String() string {
	return fmt.Sprintf("%s: wall %d (%s): %s", r.Flag, r.Wall, spec.WallNames[r.Wall], r.What)
}
