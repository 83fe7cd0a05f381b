// Package profgen writes generated seccomp profiles: an allowlist of
// syscall names, each with where it came from, in Docker's profile format
// (which internal/seccomp parses), and reads them back for merging.
//
// A generated profile refuses everything else with EPERM, as Docker's
// default does, and names only SCMP_ARCH_X86_64: 32-bit entry points
// (int 0x80, x32) are refused by the architecture check. It never allows
// more than Tirith's default profile unless asked (BeyondDefault): a
// syscall the default refuses is left out, and one the default allows only
// with some arguments (clone without namespace flags, personality, socket)
// gets the default's rules for it.
package profgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// Set maps a syscall name to where it came from (free text, one line each).
type Set map[string][]string

// Add records name with an origin.
func (s Set) Add(name, origin string) {
	if !slices.Contains(s[name], origin) {
		s[name] = append(s[name], origin)
	}
}

// Merge adds every entry of o.
func (s Set) Merge(o Set) {
	for n, origins := range o {
		for _, or := range origins {
			s.Add(n, or)
		}
	}
}

// Names returns the names, sorted.
func (s Set) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Profile is what Write needs.
type Profile struct {
	Comment string // the profile's top-level comment: how it was made
	Allow   Set
	// Extra rules appended after the allowlist (the safe superset for an
	// incomplete analysis), each with its comment.
	Extra []Rule
	// BeyondDefault keeps syscalls that the default profile refuses
	// (mount, keyctl, ptrace, unshare, ...) and allows them unconditionally.
	BeyondDefault bool
}

// Rule is one extra rule.
type Rule struct {
	specs.LinuxSyscall
	Comment string
}

// maxOrigins bounds the origins a rule's comment lists.
const maxOrigins = 6

// originPrefix starts every allowlist rule's comment, so that Read can
// tell generated rules from others.
const originPrefix = "from: "

type jsonRule struct {
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Comment  string                   `json:"comment,omitempty"`
}

type jsonProfile struct {
	Comment         string                   `json:"comment,omitempty"`
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
	Architectures   []specs.Arch             `json:"architectures"`
	Syscalls        []jsonRule               `json:"syscalls"`
}

// Write renders p as a Docker seccomp profile and returns the names it
// left out because the default profile refuses them (none with
// BeyondDefault). Every syscall name must be known on x86_64.
func Write(p *Profile) (data []byte, refused []string, err error) {
	eperm := uint(1)
	out := jsonProfile{
		Comment:         p.Comment,
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures:   []specs.Arch{specs.ArchX86_64},
		Syscalls:        []jsonRule{},
	}
	plain, limited := defaultRules()
	for _, n := range p.Allow.Names() {
		if _, ok := seccomp.SyscallNumber(specs.ArchX86_64, n); !ok {
			return nil, nil, fmt.Errorf("generated profile: %q is no x86_64 syscall", n)
		}
		origins := slices.Clone(p.Allow[n])
		slices.Sort(origins)
		if len(origins) > maxOrigins {
			origins = append(origins[:maxOrigins], fmt.Sprintf("and %d more", len(origins)-maxOrigins))
		}
		comment := originPrefix + strings.Join(origins, "; ")
		switch {
		case plain[n] || p.BeyondDefault && len(limited[n]) == 0:
			out.Syscalls = append(out.Syscalls, jsonRule{Names: []string{n}, Action: specs.ActAllow, Comment: comment})
		case len(limited[n]) > 0:
			for _, r := range limited[n] {
				out.Syscalls = append(out.Syscalls, jsonRule{
					Names: []string{n}, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args,
					Comment: comment + " (arguments limited as in the default profile)",
				})
			}
		default:
			refused = append(refused, n)
		}
	}
	for _, r := range p.Extra {
		out.Syscalls = append(out.Syscalls, jsonRule{Names: r.Names, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args, Comment: r.Comment})
	}
	data, err = json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	data = append(data, '\n')
	// What we write must be what the runtime reads.
	if _, err := seccomp.ParseProfile(data); err != nil {
		return nil, nil, fmt.Errorf("generated profile does not parse: %w", err)
	}
	return data, refused, nil
}

// defaultRules splits the default profile (no added capabilities) by
// name: allowed whatever the arguments, or only by rules with conditions
// (kept in order; a name with both kinds counts as limited, since its
// conditional rules come first and decide).
func defaultRules() (plain map[string]bool, limited map[string][]specs.LinuxSyscall) {
	plain, limited = map[string]bool{}, map[string][]specs.LinuxSyscall{}
	for _, r := range seccomp.Default(nil).Syscalls {
		for _, n := range r.Names {
			if r.Action == specs.ActAllow && len(r.Args) == 0 && len(limited[n]) == 0 {
				plain[n] = true
				continue
			}
			if !plain[n] {
				limited[n] = append(limited[n], specs.LinuxSyscall{Names: []string{n}, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args})
			}
		}
	}
	// A name allowed after its conditional rules: keep the final allow.
	for n := range limited {
		if plain[n] {
			limited[n] = append(limited[n], specs.LinuxSyscall{Names: []string{n}, Action: specs.ActAllow})
			delete(plain, n)
		}
	}
	return plain, limited
}

// Read returns the allowlist of a profile: every name an unconditional
// SCMP_ACT_ALLOW rule names, with the origins a generated rule's comment
// lists (a rule of another kind gives "profile rule N").
func Read(data []byte) (Set, error) {
	p, err := seccomp.ParseProfile(data)
	if err != nil {
		return nil, err
	}
	s := Set{}
	for i, r := range p.Syscalls {
		c, generated := strings.CutPrefix(r.Comment, originPrefix)
		if generated {
			// A generated rule, conditions included (Write derives them
			// again from the default profile).
			c = strings.TrimSuffix(c, " (arguments limited as in the default profile)")
			for _, n := range r.Names {
				for _, o := range strings.Split(c, "; ") {
					if !strings.HasPrefix(o, "and ") || !strings.HasSuffix(o, " more") {
						s.Add(n, o)
					}
				}
			}
			continue
		}
		if r.Action != specs.ActAllow || len(r.Args) > 0 || len(r.Includes.Caps) > 0 || len(r.Includes.Arches) > 0 || r.Includes.MinKernel != "" {
			continue
		}
		for _, n := range r.Names {
			s.Add(n, fmt.Sprintf("profile rule %d", i))
		}
	}
	return s, nil
}

// Superset is the documented safe superset added for an analysis that is
// incomplete: Tirith's default profile's rules (what the container would
// get without a generated profile), for the capabilities caps.
func Superset(caps []string, why string) []Rule {
	var out []Rule
	for _, r := range seccomp.Default(caps).Syscalls {
		out = append(out, Rule{LinuxSyscall: r, Comment: "default profile: " + why})
	}
	return out
}
