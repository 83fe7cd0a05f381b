package seccomp

import (
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/bpf"
)

var goarchsUnderTest = []string{"amd64", "arm64", "386", "arm"}

// denylist is a default-allow profile using every action, arguments and
// every compat architecture.
func denylist() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"kexec_load", "init_module"}, Action: specs.ActKillProcess},
			{Names: []string{"ptrace"}, Action: specs.ActKill},
			{Names: []string{"reboot"}, Action: specs.ActKillThread},
			{Names: []string{"bpf"}, Action: specs.ActTrap},
			{Names: []string{"keyctl"}, Action: specs.ActErrno, ErrnoRet: uptr(38)},
			{Names: []string{"add_key"}, Action: specs.ActTrace, ErrnoRet: uptr(7)},
			{Names: []string{"request_key"}, Action: specs.ActTrace},
			{Names: []string{"uname"}, Action: specs.ActLog},
			{Names: []string{"getpgid"}, Action: specs.ActNotify, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 42, Op: specs.OpEqualTo}}},
			{Names: []string{"mount", "no_such_syscall"}, Action: specs.ActErrno},
			{Names: []string{"socket"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 40, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0xf, ValueTwo: 3, Op: specs.OpMaskedEqual}}},
		},
	}
}

func profilesUnderTest(t *testing.T) map[string]*specs.LinuxSeccomp {
	all := map[string]*specs.LinuxSeccomp{
		"default, no caps":      Default(nil),
		"default, docker caps":  Default(dockerCaps),
		"default, all the caps": Default([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}),
		"denylist":              denylist(),
		"native arch only":      {DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}}},
	}
	if data, err := os.ReadFile(mobyProfilePath); err == nil {
		p, err := ParseProfile(data)
		if err != nil {
			t.Fatalf("parse %s: %v", mobyProfilePath, err)
		}
		for _, ga := range []string{"amd64", "arm64"} {
			all["moby "+ga] = p.Resolve(dockerCaps, ga, "6.18.0")
		}
	}
	return all
}

// TestEverySyscall runs every syscall number of every architecture through
// the compiled filters of several profiles and compares each verdict with
// the naive evaluation of the profile.
func TestEverySyscall(t *testing.T) {
	argSets := [][6]uint64{
		{},
		{42, 3, 9},
		{16, 0, 9},
		{0x8, 0, 0},
		{0xffffffff},
		{1 << 32},
		{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)},
		{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND},
		{40, 0xff3},
	}
	for name, cfg := range profilesUnderTest(t) {
		for _, ga := range goarchsUnderTest {
			p := mustCompile(t, cfg, ga)
			v := newVM(t, p)
			failures := 0
			for _, arch := range auditArches(ga) {
				for _, nr := range syscallNumbers() {
					for _, args := range argSets {
						if !compare(t, v, cfg, ga, input{nr: nr, arch: arch, args: args}) {
							failures++
						}
						if failures > 10 {
							t.Fatalf("%s on %s: too many failures\n%s", name, ga, p.Disassemble())
						}
					}
				}
			}
		}
	}
}

// edgeValues are argument values around v: the 32-bit boundary, values
// differing only in the high half, and the extremes.
func edgeValues(v uint64) []uint64 {
	vals := []uint64{
		0, 1, 2, math.MaxUint32 - 1, math.MaxUint32, 1 << 32, 1<<32 + 1, 1<<32 - 1,
		math.MaxUint64, math.MaxUint64 - 1, 1 << 63, 1<<63 - 1,
		v, v - 1, v + 1, v ^ 1<<32, v ^ 1<<63, v | 0xffffffff00000000, v & 0xffffffff,
		v + 1<<32, v - 1<<32, v<<32 | v&0xffffffff, ^v,
	}
	return vals
}

// TestArgEdges checks every operator at many values against arguments at
// the edges of those values, on 64-bit and 32-bit architectures.
func TestArgEdges(t *testing.T) {
	ops := []specs.LinuxSeccompOperator{
		specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual,
	}
	values := []uint64{0, 1, 5, math.MaxUint32, 1 << 32, 1<<32 + 5, 0x1234567890abcdef, 0xffffffff00000000, math.MaxUint64, 1 << 63}
	for _, ga := range []string{"amd64", "386", "arm64", "arm"} {
		arch := auditArches(ga)[0]
		nr, _ := SyscallNumber(goarchs[ga].native, "getpgid")
		for _, op := range ops {
			for _, v := range values {
				twos := []uint64{0}
				if op == specs.OpMaskedEqual {
					twos = []uint64{0, v, v & 0xffff, v & 0xffffffff00000000, 1, v | 1}
				}
				for _, two := range twos {
					for idx := uint(0); idx < 6; idx += 5 {
						cfg := &specs.LinuxSeccomp{
							DefaultAction: specs.ActAllow,
							Syscalls: []specs.LinuxSyscall{{
								Names:  []string{"getpgid"},
								Action: specs.ActErrno,
								Args:   []specs.LinuxSeccompArg{{Index: idx, Value: v, ValueTwo: two, Op: op}},
							}},
						}
						vmm := newVM(t, mustCompile(t, cfg, ga))
						for _, a := range append(edgeValues(v), edgeValues(two)...) {
							var args [6]uint64
							args[idx] = a
							if !compare(t, vmm, cfg, ga, input{nr: nr, arch: arch, args: args}) {
								t.Fatalf("op %s value %#x valueTwo %#x index %d\n%s", op, v, two, idx, vmm.prog.Disassemble())
							}
						}
					}
				}
			}
		}
	}
}

// TestRulesAndArgs: several args in a rule are ANDed; several rules for a
// syscall are tried in order and the first match wins.
func TestRulesAndArgs(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: uptr(13), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1 << 32, Op: specs.OpGreaterEqual},
				{Index: 2, Value: 0x3, ValueTwo: 0x1, Op: specs.OpMaskedEqual},
			}},
			{Names: []string{"openat"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0x3, ValueTwo: 0x1, Op: specs.OpMaskedEqual}}},
			{Names: []string{"openat"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 100, Op: specs.OpLessThan}}},
			{Names: []string{"openat", "read"}, Action: specs.ActTrap, Args: []specs.LinuxSeccompArg{{Index: 5, Value: 7, Op: specs.OpNotEqual}}},
			{Names: []string{"openat"}, Action: specs.ActAllow},
			{Names: []string{"openat"}, Action: specs.ActKillProcess}, // shadowed
		},
	}
	tests := []struct {
		desc string
		args [6]uint64
		want uint32
	}{
		{"both conditions of rule 0 hold", [6]uint64{1 << 32, 0, 1}, retErrno | 13},
		{"rule 0 fails on its first arg, rule 1 matches", [6]uint64{1<<32 - 1, 0, 1}, retAllow},
		{"rule 0 fails on its second arg, so do 1-3", [6]uint64{1 << 32, 100, 3, 0, 0, 7}, retAllow},
		{"rule 2 matches", [6]uint64{0, 99, 2, 0, 0, 7}, retLog},
		{"rule 2 fails in the high half", [6]uint64{0, 1<<32 | 99, 2, 0, 0, 7}, retAllow},
		{"rule 3 matches", [6]uint64{0, 100, 2, 0, 0, 8}, retTrap},
		{"unconditional rule 4", [6]uint64{0, 100, 2, 0, 0, 7}, retAllow},
	}
	for _, ga := range []string{"amd64", "arm64"} {
		v := newVM(t, mustCompile(t, cfg, ga))
		nr, _ := SyscallNumber(goarchs[ga].native, "openat")
		for _, tc := range tests {
			in := input{nr: nr, arch: auditArches(ga)[0], args: tc.args}
			if got := v.run(in); got != tc.want {
				t.Errorf("%s: %s: got %s, want %s", ga, tc.desc, ActionString(got), ActionString(tc.want))
			}
			compare(t, v, cfg, ga, in)
		}
	}
}

func TestArchitectures(t *testing.T) {
	allowRead := func(arches ...specs.Arch) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: arches,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}},
		}
	}
	x32Read := uint32(0 | x32SyscallBit)
	tests := []struct {
		desc   string
		cfg    *specs.LinuxSeccomp
		goarch string
		in     input
		want   uint32
	}{
		{"native read allowed", allowRead(specs.ArchX86_64), "amd64", input{nr: 0, arch: unix.AUDIT_ARCH_X86_64}, retAllow},
		{"x32 read killed when x32 not listed", allowRead(specs.ArchX86_64), "amd64", input{nr: x32Read, arch: unix.AUDIT_ARCH_X86_64}, retKillProcess},
		{"x32 read allowed when listed", allowRead(specs.ArchX86_64, specs.ArchX32), "amd64", input{nr: x32Read, arch: unix.AUDIT_ARCH_X86_64}, retAllow},
		{"x32 unknown nr gets default", allowRead(specs.ArchX32), "amd64", input{nr: 1000 | x32SyscallBit, arch: unix.AUDIT_ARCH_X86_64}, retErrno | 1},
		{"i386 killed when not listed", allowRead(specs.ArchX86_64), "amd64", input{nr: 3, arch: unix.AUDIT_ARCH_I386}, retKillProcess},
		{"i386 read (nr 3) allowed when listed", allowRead(specs.ArchX86), "amd64", input{nr: 3, arch: unix.AUDIT_ARCH_I386}, retAllow},
		{"native listed nowhere still handled", allowRead(), "arm64", input{nr: 63, arch: unix.AUDIT_ARCH_AARCH64}, retAllow},
		{"arm on arm64 killed unless listed", allowRead(specs.ArchAARCH64), "arm64", input{nr: 3, arch: unix.AUDIT_ARCH_ARM}, retKillProcess},
		{"arm read allowed when listed", allowRead(specs.ArchARM), "arm64", input{nr: 3, arch: unix.AUDIT_ARCH_ARM}, retAllow},
		{"foreign arch killed", allowRead(specs.ArchX86_64, specs.ArchAARCH64), "amd64", input{nr: 63, arch: unix.AUDIT_ARCH_AARCH64}, retKillProcess},
	}
	for _, tc := range tests {
		v := newVM(t, mustCompile(t, tc.cfg, tc.goarch))
		if got := v.run(tc.in); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.desc, ActionString(got), ActionString(tc.want))
		}
	}
	if _, err := Compile(allowRead(), "riscv64"); err == nil {
		t.Error("Compile for riscv64 succeeded; want unsupported GOARCH")
	}
}

// TestArgumentFreeSyscallsDecidedByNumber: a syscall whose answer does
// not depend on its arguments must be decided without loading them, so
// the kernel's action cache can apply.
func TestArgumentFreeSyscallsDecidedByNumber(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			// Conditions that always hold.
			{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpGreaterEqual}}},
			{Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			// Same action whether the condition holds or not.
			{Names: []string{"close"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 3, Op: specs.OpEqualTo}}},
			// A condition that never holds, then an unconditional rule.
			{Names: []string{"openat"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpLessThan}}},
			{Names: []string{"openat"}, Action: specs.ActAllow},
			{Names: []string{"openat"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 3, Op: specs.OpEqualTo}}},
		},
	}
	p := mustCompile(t, cfg, "amd64")
	for i, ins := range p.Filter {
		if ins.Code == bpf.BPF_LD|bpf.BPF_W|bpf.BPF_ABS && ins.K >= offArgs {
			t.Fatalf("instruction %d loads an argument:\n%s", i, p.Disassemble())
		}
	}
	v := newVM(t, p)
	for _, nr := range syscallNumbers() {
		compare(t, v, cfg, "amd64", input{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{3, 5}})
	}
}

// TestRandom compiles random profiles and compares them with the naive
// evaluator on random inputs biased towards the profile's own values.
func TestRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	iters := 300
	if testing.Short() {
		iters = 50
	}
	for i := range iters {
		ga := goarchsUnderTest[rng.Intn(len(goarchsUnderTest))]
		cfg, interesting := randomProfile(rng, ga)
		p, err := Compile(cfg, ga)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		v := newVM(t, p)
		for range 300 {
			in := randomInput(rng, ga, interesting)
			if !compare(t, v, cfg, ga, in) {
				b, _ := json.Marshal(cfg)
				t.Fatalf("iteration %d profile %s\n%s", i, b, p.Disassemble())
			}
		}
	}
}

var randomActions = []specs.LinuxSeccompAction{
	specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActKill, specs.ActTrap,
	specs.ActLog, specs.ActTrace, specs.ActNotify,
}

var randomOps = []specs.LinuxSeccompOperator{
	specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
	specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual,
}

func randomValue(rng *rand.Rand, interesting []uint64) uint64 {
	switch rng.Intn(6) {
	case 0:
		return rng.Uint64()
	case 1:
		return uint64(rng.Intn(10))
	case 2:
		return uint64(rng.Intn(4))<<32 | uint64(rng.Intn(4))
	case 3:
		return math.MaxUint64 - uint64(rng.Intn(3))
	default:
		if len(interesting) == 0 {
			return 0
		}
		v := interesting[rng.Intn(len(interesting))]
		return v + uint64(rng.Intn(3)) - 1 + uint64(rng.Intn(3)-1)<<32
	}
}

func randomProfile(rng *rand.Rand, goarch string) (*specs.LinuxSeccomp, []uint64) {
	names := SyscallNames(goarchs[goarch].native)
	pool := names[:1+rng.Intn(min(40, len(names)))] // few names, so rules collide
	var interesting []uint64
	cfg := &specs.LinuxSeccomp{DefaultAction: randomActions[rng.Intn(3)], DefaultErrnoRet: uptr(uint(rng.Intn(200)))}
	if cfg.DefaultAction == specs.ActNotify {
		cfg.DefaultAction = specs.ActAllow
	}
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM} {
		if rng.Intn(2) == 0 {
			cfg.Architectures = append(cfg.Architectures, a)
		}
	}
	for range rng.Intn(30) {
		sc := specs.LinuxSyscall{Action: randomActions[rng.Intn(len(randomActions))]}
		for range 1 + rng.Intn(3) {
			sc.Names = append(sc.Names, pool[rng.Intn(len(pool))])
		}
		if rng.Intn(3) == 0 {
			sc.ErrnoRet = uptr(uint(rng.Intn(4096)))
		}
		for range rng.Intn(4) {
			a := specs.LinuxSeccompArg{
				Index: uint(rng.Intn(6)),
				Op:    randomOps[rng.Intn(len(randomOps))],
				Value: randomValue(rng, interesting),
			}
			if a.Op == specs.OpMaskedEqual {
				a.ValueTwo = a.Value & randomValue(rng, interesting)
				if rng.Intn(5) == 0 {
					a.ValueTwo = randomValue(rng, interesting)
				}
			}
			interesting = append(interesting, a.Value, a.ValueTwo)
			sc.Args = append(sc.Args, a)
		}
		cfg.Syscalls = append(cfg.Syscalls, sc)
	}
	return cfg, interesting
}

func randomInput(rng *rand.Rand, goarch string, interesting []uint64) input {
	arches := auditArches(goarch)
	in := input{arch: arches[rng.Intn(len(arches))]}
	switch rng.Intn(10) {
	case 0:
		in.nr = rng.Uint32()
	case 1:
		in.nr = uint32(rng.Intn(50)) | x32SyscallBit
	default:
		in.nr = uint32(rng.Intn(60))
	}
	for i := range in.args {
		in.args[i] = randomValue(rng, interesting)
	}
	return in
}

// TestLongJumpsInFilter builds a filter large enough that jumps over
// argument checks exceed 255 instructions, so long jumps are needed.
func TestLongJumpsInFilter(t *testing.T) {
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i, n := range SyscallNames(specs.ArchX86_64)[:150] {
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{
			Names: []string{n}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: uint64(i) << 31, Op: specs.OpLessEqual}},
		})
	}
	p := mustCompile(t, cfg, "amd64")
	long := 0
	for _, ins := range p.Filter {
		if ins.Code == bpf.BPF_JMP|bpf.BPF_JA {
			long++
		}
	}
	if long == 0 {
		t.Fatalf("no long jumps in a %d-instruction filter", len(p.Filter))
	}
	v := newVM(t, p)
	rng := rand.New(rand.NewSource(7))
	for _, nr := range syscallNumbers() {
		for range 4 {
			in := input{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
			for i := range in.args {
				in.args[i] = randomValue(rng, []uint64{1 << 31, 1 << 32, 3 << 31})
			}
			compare(t, v, cfg, "amd64", in)
		}
	}
}

func TestProgramJSON(t *testing.T) {
	p := mustCompile(t, denylist(), "amd64")
	if !p.Notify {
		t.Error("Notify not set for a profile with SCMP_ACT_NOTIFY")
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Program
	if err := json.Unmarshal(data, &q); err != nil {
		t.Fatal(err)
	}
	p.notes = nil
	if !reflect.DeepEqual(p, &q) {
		t.Errorf("JSON round trip changed the program:\n%+v\n%+v", p, q)
	}
	if mustCompile(t, Default(nil), "amd64").Notify {
		t.Error("Notify set for the default profile")
	}
}

func TestStats(t *testing.T) {
	p := mustCompile(t, Default(nil), "amd64")
	if p.Stats.Instructions != len(p.Filter) {
		t.Errorf("Stats.Instructions = %d, filter has %d", p.Stats.Instructions, len(p.Filter))
	}
	// A linear scan would be hundreds long; a balanced tree is ~log2.
	if p.Stats.MaxPathLength > 32 {
		t.Errorf("Stats.MaxPathLength = %d; the decision tree is not balanced", p.Stats.MaxPathLength)
	}
	if p.Stats.Syscalls < 250 {
		t.Errorf("Stats.Syscalls = %d, want the default allowlist's size", p.Stats.Syscalls)
	}
	if len(p.Stats.Unknown) == 0 {
		t.Error("Stats.Unknown is empty; the ARM-only names are unknown on amd64")
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := Compile(&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}, "amd64"); err == nil {
		t.Error("unknown default action accepted")
	}
	big := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i, n := range SyscallNames(specs.ArchX86_64) {
		for j := range 4 {
			big.Syscalls = append(big.Syscalls, specs.LinuxSyscall{
				Names: []string{n}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: uint(j), Value: uint64(i), Op: specs.OpGreaterThan}},
			})
		}
	}
	if _, err := Compile(big, "amd64"); err == nil {
		t.Error("a filter over the kernel's 4096 instruction limit compiled")
	}
}
