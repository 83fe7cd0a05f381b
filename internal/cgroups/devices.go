package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	devconfig "github.com/opencontainers/cgroups/devices/config"

	// The blank import installs cgroups.DevicesSetV1 (devices.allow/deny
	// writes driven by an emulator of the kernel's rule list) and
	// cgroups.DevicesSetV2 (an eBPF program attached to the cgroup). Without
	// it the library silently cannot enforce a device allowlist.
	_ "github.com/opencontainers/cgroups/devices"
)

// DefaultDevices are the character devices every container may use, as in the
// OCI runtime spec's "Default Devices" and runc's AllowedDevices, minus
// runc's "c *:* m" and "b *:* m" (mknod of any device; see doc.go).
var DefaultDevices = []devconfig.Rule{
	{Type: devconfig.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true},                    // /dev/null
	{Type: devconfig.CharDevice, Major: 1, Minor: 5, Permissions: "rwm", Allow: true},                    // /dev/zero
	{Type: devconfig.CharDevice, Major: 1, Minor: 7, Permissions: "rwm", Allow: true},                    // /dev/full
	{Type: devconfig.CharDevice, Major: 5, Minor: 0, Permissions: "rwm", Allow: true},                    // /dev/tty
	{Type: devconfig.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true},                    // /dev/urandom
	{Type: devconfig.CharDevice, Major: 1, Minor: 8, Permissions: "rwm", Allow: true},                    // /dev/random
	{Type: devconfig.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true},                    // /dev/ptmx
	{Type: devconfig.CharDevice, Major: 136, Minor: devconfig.Wildcard, Permissions: "rwm", Allow: true}, // /dev/pts/*
}

// denyAll is put first so that the outcome does not depend on what the
// kernel had before: a fresh v1 devices cgroup inherits its parent's list
// (usually "a *:* rwm"), and allow rules added to that change nothing,
// whereas the v2 eBPF program starts from deny. Starting from deny makes v1
// and v2 agree, and makes a spec without a leading deny rule safe.
var denyAll = devconfig.Rule{
	Type:        devconfig.WildcardDevice,
	Major:       devconfig.Wildcard,
	Minor:       devconfig.Wildcard,
	Permissions: "rwm",
	Allow:       false,
}

// deviceRules builds the allowlist: deny all, the spec's rules in order, then
// DefaultDevices. Later rules win, so the defaults cannot be taken away,
// as in runc.
func deviceRules(spec []specs.LinuxDeviceCgroup) ([]*devconfig.Rule, error) {
	rules := make([]*devconfig.Rule, 0, 1+len(spec)+len(DefaultDevices))
	d := denyAll
	rules = append(rules, &d)
	for i, sd := range spec {
		r, ferr := deviceRule(sd)
		if ferr != nil {
			ferr.Field = fmt.Sprintf("linux.resources.devices[%d].%s", i, ferr.Field)
			return nil, ferr
		}
		rules = append(rules, r)
	}
	for i := range DefaultDevices {
		d := DefaultDevices[i]
		rules = append(rules, &d)
	}
	return rules, nil
}

// deviceRule converts one spec rule. An error's Field is relative to the rule;
// the caller prefixes the rule's index.
func deviceRule(sd specs.LinuxDeviceCgroup) (*devconfig.Rule, *FieldError) {
	r := &devconfig.Rule{
		Major: devconfig.Wildcard,
		Minor: devconfig.Wildcard,
		Allow: sd.Allow,
	}
	switch sd.Type {
	case "", "a":
		// The spec says an absent type means "all". The kernel ignores the
		// numbers of an "a" rule, so keep them as wildcards.
		r.Type = devconfig.WildcardDevice
	case "b":
		r.Type = devconfig.BlockDevice
	case "c":
		r.Type = devconfig.CharDevice
	default:
		return nil, &FieldError{Field: "type", Msg: fmt.Sprintf(`must be "a", "b" or "c", got %q`, sd.Type)}
	}
	if r.Type != devconfig.WildcardDevice {
		if sd.Major != nil {
			if *sd.Major < devconfig.Wildcard {
				return nil, &FieldError{Field: "major", Msg: fmt.Sprintf("must be >= 0 (or -1 for any), got %d", *sd.Major)}
			}
			r.Major = *sd.Major
		}
		if sd.Minor != nil {
			if *sd.Minor < devconfig.Wildcard {
				return nil, &FieldError{Field: "minor", Msg: fmt.Sprintf("must be >= 0 (or -1 for any), got %d", *sd.Minor)}
			}
			r.Minor = *sd.Minor
		}
	}
	access := sd.Access
	if access == "" {
		// An empty access string means all of "rwm", as in runc.
		access = "rwm"
	}
	seen := map[rune]bool{}
	for _, c := range access {
		if (c != 'r' && c != 'w' && c != 'm') || seen[c] {
			return nil, &FieldError{Field: "access", Msg: fmt.Sprintf(`must be a combination of "r", "w" and "m", got %q`, sd.Access)}
		}
		seen[c] = true
	}
	r.Permissions = devconfig.Permissions(access)
	return r, nil
}

// mknodRules lets the runtime create the spec's device nodes. Only these:
// a container holding CAP_MKNOD still cannot make any other node.
func mknodRules(nodes []specs.LinuxDevice) []*devconfig.Rule {
	var rules []*devconfig.Rule
	for _, d := range nodes {
		t := devconfig.CharDevice
		switch d.Type {
		case "b":
			t = devconfig.BlockDevice
		case "p":
			continue // a fifo is no device to the cgroup
		}
		rules = append(rules, &devconfig.Rule{Type: t, Major: d.Major, Minor: d.Minor, Permissions: "m", Allow: true})
	}
	return rules
}
