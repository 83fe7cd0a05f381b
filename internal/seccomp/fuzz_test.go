package seccomp

import (
	"strings"
	"testing"
)

// FuzzCompile parses arbitrary profiles; whatever parses must compile (or
// be refused as too large) and agree with the naive evaluator.
// Seeds live in testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(dockerProfile), uint8(0), uint32(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, profile []byte, sel uint8, nr uint32, a0, a1 uint64) {
		p, err := ParseProfile(profile)
		if err != nil {
			return
		}
		ga := goarchsUnderTest[int(sel)%len(goarchsUnderTest)]
		cfg := p.Resolve([]string{"CAP_SYS_ADMIN"}, ga, "6.1")
		prog, err := Compile(cfg, ga)
		if err != nil {
			if strings.Contains(err.Error(), "kernel limit") {
				return
			}
			t.Fatalf("parsed profile does not compile: %v", err)
		}
		v := newVM(t, prog)
		native := goarchs[ga].native
		nrs := []uint32{nr, nr % 512}
		for _, sc := range cfg.Syscalls {
			for _, n := range sc.Names {
				if x, ok := SyscallNumber(native, n); ok {
					nrs = append(nrs, x)
				}
			}
		}
		for _, arch := range auditArches(ga) {
			for _, n := range nrs {
				for _, args := range [][6]uint64{{a0, a1, a0, a1, a0, a1}, {a1, a0, a1, a0, a1, a0}, {}} {
					if !compare(t, v, cfg, ga, input{nr: n, arch: arch, args: args}) {
						t.FailNow()
					}
				}
			}
		}
	})
}
