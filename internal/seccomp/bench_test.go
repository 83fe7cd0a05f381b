package seccomp

import (
	"testing"
)

// BenchmarkFilterPath reports, for the default profile on amd64 and arm64,
// the longest path through the filter and the average path over every
// syscall number the native architecture knows (instructions executed per
// syscall, measured by counting in a replay of the filter), and times the
// x/net/bpf VM over those syscalls.
func BenchmarkFilterPath(b *testing.B) {
	for _, ga := range []string{"amd64", "arm64"} {
		b.Run(ga, func(b *testing.B) {
			p := mustCompile(b, Default(dockerCaps), ga)
			native := goarchs[ga].native
			var inputs []input
			total := 0
			for _, name := range SyscallNames(native) {
				nr, _ := SyscallNumber(native, name)
				in := input{nr: nr, arch: archInfos[native].auditArch}
				inputs = append(inputs, in)
				total += pathLength(p, in)
			}
			v := newVM(b, p)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v.run(inputs[i%len(inputs)])
			}
			b.ReportMetric(float64(p.Stats.MaxPathLength), "max-insns")
			b.ReportMetric(float64(total)/float64(len(inputs)), "avg-insns")
			b.ReportMetric(float64(p.Stats.Instructions), "filter-insns")
		})
	}
}

// pathLength counts the instructions the filter executes for in. It
// understands only what the compiler emits (ld abs, and, jumps, ret).
func pathLength(p *Program, in input) int {
	data := in
	var a uint32
	n := 0
	for pc := 0; pc < len(p.Filter); {
		ins := p.Filter[pc]
		n++
		switch {
		case ins.Code == 0x20: // ld [k]
			a = word(data, ins.K)
			pc++
		case ins.Code == 0x54: // and #k
			a &= ins.K
			pc++
		case ins.Code == 0x05: // ja
			pc += 1 + int(ins.K)
		case ins.Code&0x07 == 0x05:
			var t bool
			switch ins.Code & 0xf0 {
			case 0x10:
				t = a == ins.K
			case 0x20:
				t = a > ins.K
			case 0x30:
				t = a >= ins.K
			case 0x40:
				t = a&ins.K != 0
			}
			if t {
				pc += 1 + int(ins.Jt)
			} else {
				pc += 1 + int(ins.Jf)
			}
		default: // ret
			return n
		}
	}
	return n
}

func word(in input, off uint32) uint32 {
	switch {
	case off == 0:
		return in.nr
	case off == 4:
		return in.arch
	case off >= 16:
		a := in.args[(off-16)/8]
		if (off-16)%8 == 4 {
			return uint32(a >> 32)
		}
		return uint32(a)
	}
	return 0
}

// BenchmarkCompileDefault is the compile every create of a container with
// the default profile pays (go test -bench CompileDefault ./internal/seccomp).
func BenchmarkCompileDefault(b *testing.B) {
	prof := Default([]string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_NET_BIND_SERVICE"})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(prof, "amd64"); err != nil {
			b.Fatal(err)
		}
	}
}
