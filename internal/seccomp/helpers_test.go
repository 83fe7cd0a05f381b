package seccomp

import (
	"encoding/binary"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	xbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// input is one syscall as the filter sees it (struct seccomp_data).
type input struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// bytes encodes in for the x/net/bpf VM. The kernel loads seccomp_data in
// native (little-endian) byte order, so a 64-bit argument's low half is the
// word at the lower offset; the VM loads words big-endian, so each word is
// written big-endian to give the filter the value the kernel would.
func (in input) bytes() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], in.nr)
	binary.BigEndian.PutUint32(b[4:], in.arch)
	for i, a := range in.args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	return b
}

// vm runs compiled filters in the x/net/bpf VM.
type vm struct {
	t    testing.TB
	prog *Program
	m    *xbpf.VM
}

func newVM(t testing.TB, p *Program) *vm {
	t.Helper()
	ins := make([]xbpf.Instruction, len(p.Filter))
	for i, f := range p.Filter {
		ins[i] = xbpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}.Disassemble()
	}
	m, err := xbpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return &vm{t: t, prog: p, m: m}
}

func (v *vm) run(in input) uint32 {
	got, err := v.m.Run(in.bytes())
	if err != nil {
		v.t.Fatalf("vm.Run(%+v): %v", in, err)
	}
	return uint32(got)
}

// naive evaluates cfg for in directly from the profile, the way the
// kernel plus libseccomp's documented semantics would, without any of the
// compiler's structure: find the architecture, find the rules naming the
// syscall in profile order, return the first whose conditions all hold.
func naive(t testing.TB, cfg *specs.LinuxSeccomp, goarch string, in input) uint32 {
	t.Helper()
	g := goarchs[goarch]
	allowed := []specs.Arch{g.native}
	for _, a := range g.compat {
		if slices.Contains(cfg.Architectures, a) {
			allowed = append(allowed, a)
		}
	}
	var arch specs.Arch
	switch in.arch {
	case unix.AUDIT_ARCH_X86_64:
		arch = specs.ArchX86_64
		if in.nr&x32SyscallBit != 0 {
			arch = specs.ArchX32
		}
	case unix.AUDIT_ARCH_I386:
		arch = specs.ArchX86
	case unix.AUDIT_ARCH_AARCH64:
		arch = specs.ArchAARCH64
	case unix.AUDIT_ARCH_ARM:
		arch = specs.ArchARM
	default:
		return unix.SECCOMP_RET_KILL_PROCESS
	}
	if !slices.Contains(allowed, arch) {
		return unix.SECCOMP_RET_KILL_PROCESS
	}
	info := archInfos[arch]
	for _, sc := range cfg.Syscalls {
		named := false
		for _, n := range sc.Names {
			if nr, ok := info.table()[n]; ok && nr == in.nr {
				named = true
			}
		}
		if !named || !argsMatch(sc.Args, in.args, info.bits32) {
			continue
		}
		return mustAction(t, sc.Action, sc.ErrnoRet)
	}
	return mustAction(t, cfg.DefaultAction, cfg.DefaultErrnoRet)
}

func argsMatch(conds []specs.LinuxSeccompArg, args [6]uint64, bits32 bool) bool {
	for _, c := range conds {
		a, v, two := args[c.Index], c.Value, c.ValueTwo
		if bits32 {
			a, v, two = uint64(uint32(a)), uint64(uint32(v)), uint64(uint32(two))
		}
		var ok bool
		switch c.Op {
		case specs.OpEqualTo:
			ok = a == v
		case specs.OpNotEqual:
			ok = a != v
		case specs.OpLessThan:
			ok = a < v
		case specs.OpLessEqual:
			ok = a <= v
		case specs.OpGreaterThan:
			ok = a > v
		case specs.OpGreaterEqual:
			ok = a >= v
		case specs.OpMaskedEqual:
			ok = a&v == two
		}
		if !ok {
			return false
		}
	}
	return true
}

func mustAction(t testing.TB, act specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	t.Helper()
	v, err := actionValue(act, errnoRet)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// auditArches are the seccomp_data.arch values a filter for goarch may see,
// plus one foreign value.
func auditArches(goarch string) []uint32 {
	switch goarch {
	case "amd64":
		return []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64}
	case "arm64":
		return []uint32{unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_X86_64}
	case "386":
		return []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_X86_64}
	case "arm":
		return []uint32{unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_AARCH64}
	}
	return nil
}

// syscallNumbers returns every number worth trying on an audit arch: 0 to
// past the highest known one, the x32 range, the ARM private range, and
// the edges of the 32-bit space.
func syscallNumbers() []uint32 {
	var nrs []uint32
	for nr := uint32(0); nr < 600; nr++ {
		nrs = append(nrs, nr, nr|x32SyscallBit)
	}
	for nr := uint32(0x0f0000); nr < 0x0f0010; nr++ {
		nrs = append(nrs, nr)
	}
	return append(nrs, 0x3fffffff, 0x7fffffff, 0x80000000, 0x80000001, 0xbfffffff, 0xc0000000, 0xc0000001, 0xffffffff)
}

// compare checks the compiled filter against naive for in, failing with
// the disassembly on a mismatch.
func compare(t testing.TB, v *vm, cfg *specs.LinuxSeccomp, goarch string, in input) bool {
	t.Helper()
	got, want := v.run(in), naive(t, cfg, goarch, in)
	if got != want {
		t.Errorf("%s: nr %#x arch %#x args %#x: filter says %s, profile says %s", goarch, in.nr, in.arch, in.args, ActionString(got), ActionString(want))
		return false
	}
	return true
}

func mustCompile(t testing.TB, cfg *specs.LinuxSeccomp, goarch string) *Program {
	t.Helper()
	p, err := Compile(cfg, goarch)
	if err != nil {
		t.Fatalf("Compile(%s): %v", goarch, err)
	}
	return p
}

func uptr(v uint) *uint { return &v }
