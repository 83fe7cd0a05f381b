package seccomp

import (
	"fmt"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32SyscallBit is __X32_SYSCALL_BIT: x32 tasks share AUDIT_ARCH_X86_64 and
// are told apart only by this bit in the syscall number.
const x32SyscallBit = 0x40000000

// archInfo describes one seccomp architecture the compiler can emit a
// syscall tree for.
type archInfo struct {
	arch      specs.Arch
	auditArch uint32                   // seccomp_data.arch, AUDIT_ARCH_* from <linux/audit.h>
	table     func() map[string]uint32 // name -> number, built on first use
	bits32    bool                     // arguments are 32 bits wide
}

var archInfos = map[specs.Arch]*archInfo{
	specs.ArchX86_64:  {arch: specs.ArchX86_64, auditArch: unix.AUDIT_ARCH_X86_64, table: sync.OnceValue(sysnumX86_64)},
	specs.ArchX32:     {arch: specs.ArchX32, auditArch: unix.AUDIT_ARCH_X86_64, table: sync.OnceValue(sysnumX32)},
	specs.ArchX86:     {arch: specs.ArchX86, auditArch: unix.AUDIT_ARCH_I386, table: sync.OnceValue(sysnumX86), bits32: true},
	specs.ArchAARCH64: {arch: specs.ArchAARCH64, auditArch: unix.AUDIT_ARCH_AARCH64, table: sync.OnceValue(sysnumAARCH64)},
	specs.ArchARM:     {arch: specs.ArchARM, auditArch: unix.AUDIT_ARCH_ARM, table: sync.OnceValue(sysnumARM), bits32: true},
}

// goarchs maps a GOARCH to its native seccomp architecture and the
// architectures a process on that kernel can also present (compat ABIs).
// A filter only tests for these: no other value of seccomp_data.arch can
// occur on that kernel, so testing for it would only cost instructions.
var goarchs = map[string]struct {
	native specs.Arch
	compat []specs.Arch
}{
	"amd64": {specs.ArchX86_64, []specs.Arch{specs.ArchX86, specs.ArchX32}},
	"arm64": {specs.ArchAARCH64, []specs.Arch{specs.ArchARM}},
	"386":   {specs.ArchX86, nil},
	"arm":   {specs.ArchARM, nil},
}

// knownArches are all the names the runtime-spec and libseccomp define.
// Profiles may list any of them (moby's lists mips and s390 too); the
// compiler uses only those that can occur on the target.
var knownArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
	specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
	specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
	specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
	specs.ArchSH, specs.ArchSHEB,
}

// NativeArch returns the seccomp architecture of a GOARCH, e.g.
// SCMP_ARCH_X86_64 for "amd64".
func NativeArch(goarch string) (specs.Arch, error) {
	g, ok := goarchs[goarch]
	if !ok {
		return "", fmt.Errorf("unsupported GOARCH %q (supported: amd64, arm64, 386, arm)", goarch)
	}
	return g.native, nil
}

// filterArches returns, native first, the architectures a filter for
// goarch must handle given the profile's list: the native one always (as
// libseccomp does), and each compat one only if the profile lists it.
func filterArches(goarch string, listed []specs.Arch) ([]*archInfo, error) {
	g, ok := goarchs[goarch]
	if !ok {
		return nil, fmt.Errorf("unsupported GOARCH %q (supported: amd64, arm64, 386, arm)", goarch)
	}
	out := []*archInfo{archInfos[g.native]}
	for _, a := range g.compat {
		if slices.Contains(listed, a) {
			out = append(out, archInfos[a])
		}
	}
	return out, nil
}

// SyscallNumber returns the number of a syscall on a seccomp architecture
// (x32 numbers include the x32 bit).
func SyscallNumber(arch specs.Arch, name string) (uint32, bool) {
	a, ok := archInfos[arch]
	if !ok {
		return 0, false
	}
	nr, ok := a.table()[name]
	return nr, ok
}

// SyscallNames returns the syscall names known on a seccomp architecture.
func SyscallNames(arch specs.Arch) []string {
	a, ok := archInfos[arch]
	if !ok {
		return nil
	}
	names := make([]string, 0, len(a.table()))
	for n := range a.table() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
