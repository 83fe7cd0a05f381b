package caps

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
)

// The one table of capability names: every capability the capability
// library knows, under its OCI name ("CAP_CHOWN"). Validation (spec,
// flags), `features`, the probe and Apply all read it, so a name
// accepted in one place is never refused in another.
var (
	known  = capability.ListKnown() // in the kernel's order
	names  = make([]string, len(known))
	byName = make(map[string]capability.Cap, len(known))
)

func init() {
	for i, c := range known {
		names[i] = "CAP_" + strings.ToUpper(c.String())
		byName[names[i]] = c
	}
}

// Names lists every capability name Tirith knows, in the kernel's order.
func Names() []string { return append([]string(nil), names...) }

// Lookup returns the capability called name ("CAP_CHOWN"): the one check
// of a capability name, used by spec validation, the flags and Apply.
func Lookup(name string) (capability.Cap, error) {
	c, ok := byName[name]
	if !ok {
		return 0, fmt.Errorf("unknown capability %q", name)
	}
	return c, nil
}

// FromFlag turns a name as users type it on the command line ("net_raw",
// "CAP_NET_RAW", "Net_Raw") into the OCI name, refusing unknown ones.
// The error quotes what was typed.
func FromFlag(s string) (string, error) {
	n := strings.ToUpper(s)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, err := Lookup(n); err != nil {
		return "", fmt.Errorf("unknown capability %q", s)
	}
	return n, nil
}

// All lists every capability this kernel has (the library may know
// newer ones; asking for those would be dropped by Apply anyway).
func All() []string {
	last, err := capability.LastCap()
	var out []string
	for i, c := range known {
		if err != nil || c <= last {
			out = append(out, names[i])
		}
	}
	return out
}

// InMask names the capabilities set in a mask as /proc/PID/status shows
// them (CapEff and friends), in the kernel's order.
func InMask(mask uint64) []string {
	out := []string{}
	for i, c := range known {
		if c < 64 && mask&(1<<uint(c)) != 0 {
			out = append(out, names[i])
		}
	}
	return out
}
