package profgen

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// A verdict is what a resolved profile does with one syscall: the rules
// that name it, in order, then the default action.
type verdict struct {
	rules []int // indexes into the profile's rules
	text  string
}

var opText = map[specs.LinuxSeccompOperator]string{
	specs.OpNotEqual: "!=", specs.OpLessThan: "<", specs.OpLessEqual: "<=", specs.OpEqualTo: "==",
	specs.OpGreaterEqual: ">=", specs.OpGreaterThan: ">",
}

func argText(a specs.LinuxSeccompArg) string {
	if a.Op == specs.OpMaskedEqual {
		return fmt.Sprintf("arg%d & %#x == %#x", a.Index, a.Value, a.ValueTwo)
	}
	return fmt.Sprintf("arg%d %s %#x", a.Index, opText[a.Op], a.Value)
}

func actionText(a specs.LinuxSeccompAction, errno *uint) string {
	if errno != nil && (a == specs.ActErrno || a == specs.ActTrace) {
		return fmt.Sprintf("%s(%d)", a, *errno)
	}
	return string(a)
}

func ruleText(r specs.LinuxSyscall) string {
	act := actionText(r.Action, r.ErrnoRet)
	if len(r.Args) == 0 {
		return act
	}
	conds := make([]string, len(r.Args))
	for i, a := range r.Args {
		conds[i] = argText(a)
	}
	return act + " if " + strings.Join(conds, " && ")
}

// judge finds what cfg does with name: rules are tried in order and the
// first whose conditions hold decides; an unconditional rule ends the
// search.
func judge(cfg *specs.LinuxSeccomp, name string) verdict {
	var v verdict
	var parts []string
	for i, r := range cfg.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		v.rules = append(v.rules, i)
		parts = append(parts, ruleText(r))
		if len(r.Args) == 0 {
			v.text = strings.Join(parts, "; else ")
			return v
		}
	}
	parts = append(parts, actionText(cfg.DefaultAction, cfg.DefaultErrnoRet)+" (default action)")
	v.text = strings.Join(parts, "; else ")
	return v
}

// Explain says whether profile p lets syscall name through for a
// container with caps on goarch and kernel, by which rules, and where a
// generated rule says the syscall came from.
func Explain(p *seccomp.Profile, name string, caps []string, goarch, kernel string) (string, error) {
	arch, err := seccomp.NativeArch(goarch)
	if err != nil {
		return "", err
	}
	nr, ok := seccomp.SyscallNumber(arch, name)
	if !ok {
		return "", fmt.Errorf("%q is no syscall on %s", name, goarch)
	}
	cfg := p.Resolve(caps, goarch, kernel)
	if len(cfg.Architectures) > 0 && !slices.Contains(cfg.Architectures, arch) {
		return fmt.Sprintf("%s (%s %d): the profile does not list %s: every syscall gets the architecture check's action\n", name, arch, nr, arch), nil
	}
	v := judge(cfg, name)
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s %d): %s\n", name, arch, nr, v.text)
	// The resolved rules are the profile's rules that apply, in order:
	// find each one's comment in the profile.
	applied := resolvedIndexes(p, cfg)
	for _, i := range v.rules {
		r := cfg.Syscalls[i]
		fmt.Fprintf(&b, "  rule %d: %s", applied[i], ruleText(r))
		if c := p.Syscalls[applied[i]].Comment; c != "" {
			fmt.Fprintf(&b, "  (%s)", c)
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// resolvedIndexes maps each rule of Resolve's output to its index in the
// profile (Resolve keeps the applicable rules in order).
func resolvedIndexes(p *seccomp.Profile, cfg *specs.LinuxSeccomp) []int {
	out := make([]int, len(cfg.Syscalls))
	j := 0
	for i := range cfg.Syscalls {
		for j < len(p.Syscalls) && !sameRule(p.Syscalls[j].LinuxSyscall, cfg.Syscalls[i]) {
			j++
		}
		out[i] = j
		j++
	}
	return out
}

func sameRule(a, b specs.LinuxSyscall) bool {
	return slices.Equal(a.Names, b.Names) && a.Action == b.Action && slices.Equal(a.Args, b.Args)
}

// Diff compares what two resolved profiles do with every syscall known on
// goarch and lists the syscalls they treat differently.
func Diff(a, b *specs.LinuxSeccomp, goarch string) ([]string, error) {
	arch, err := seccomp.NativeArch(goarch)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range seccomp.SyscallNames(arch) {
		va, vb := judge(a, n).text, judge(b, n).text
		if va != vb {
			out = append(out, fmt.Sprintf("%s: %s | %s", n, va, vb))
		}
	}
	return out, nil
}
