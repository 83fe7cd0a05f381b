// Package caps applies a process's capability sets and identity (walls 2
// and 1): the bounding set, the uid/gid switch that must not lose the caps
// asked for, then the effective, permitted, inheritable and ambient sets.
//
// Capability sets are per thread: the caller must hold its OS thread
// (runtime.LockOSThread) from here until execve.
package caps

import (
	"fmt"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// parse maps names to caps, dropping those this kernel does not know:
// asking for a cap newer than the kernel cannot grant more than it has.
func parse(names []string, last capability.Cap) ([]capability.Cap, error) {
	out := make([]capability.Cap, 0, len(names))
	for _, n := range names {
		c, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		if c <= last {
			out = append(out, c)
		}
	}
	return out, nil
}

// Apply sets identity and capabilities, in the order the kernel needs:
// bounding set first (dropping from it needs CAP_SETPCAP, which the uid
// switch may take away), then setgroups/setgid/setuid with KEEPCAPS so the
// permitted set survives, then the sets asked for, then ambient.
// A nil c means no capabilities at all.
func Apply(c *specs.LinuxCapabilities, user specs.User, setgroups bool) error {
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("read last capability: %w", err)
	}
	var sets [5][]capability.Cap
	for i, names := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		if sets[i], err = parse(names, last); err != nil {
			return err
		}
	}
	pc, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if err := pc.Load(); err != nil {
		return fmt.Errorf("load capabilities: %w", err)
	}
	pc.Clear(capability.BOUNDING)
	pc.Set(capability.BOUNDING, sets[0]...)
	if err := pc.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("apply bounding set: %w", err)
	}

	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	if err := setIdentity(user, setgroups); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}

	pc.Clear(capability.CAPS)
	pc.Set(capability.EFFECTIVE, sets[1]...)
	pc.Set(capability.PERMITTED, sets[2]...)
	pc.Set(capability.INHERITABLE, sets[3]...)
	if err := pc.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("apply capability sets: %w", err)
	}
	if err := capability.ResetAmbient(); err != nil {
		return fmt.Errorf("reset ambient set: %w", err)
	}
	// A cap missing from permitted or inheritable cannot be ambient;
	// like runc, skip it rather than fail (`runc spec` itself asks for
	// such caps): the process gets less, never more.
	for _, a := range sets[4] {
		_ = capability.SetAmbient(true, a)
	}
	return nil
}

// Current reads back the calling thread's five capability sets, by name
// (CAP_*), as the kernel holds them.
func Current() (*specs.LinuxCapabilities, error) {
	pc, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	if err := pc.Load(); err != nil {
		return nil, fmt.Errorf("load capabilities: %w", err)
	}
	last, err := capability.LastCap()
	if err != nil {
		return nil, fmt.Errorf("read last capability: %w", err)
	}
	out := &specs.LinuxCapabilities{}
	for _, set := range []struct {
		which capability.CapType
		dst   *[]string
	}{
		{capability.BOUNDING, &out.Bounding}, {capability.EFFECTIVE, &out.Effective},
		{capability.PERMITTED, &out.Permitted}, {capability.INHERITABLE, &out.Inheritable},
		{capability.AMBIENT, &out.Ambient},
	} {
		*set.dst = []string{}
		for i, c := range known {
			if c <= last && pc.Get(set.which, c) {
				*set.dst = append(*set.dst, names[i])
			}
		}
	}
	return out, nil
}
