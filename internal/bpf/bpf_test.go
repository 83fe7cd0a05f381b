package bpf

import (
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"

	xbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run executes prog in the x/net/bpf VM on a single 32-bit input word.
func run(t *testing.T, prog []unix.SockFilter, word uint32) uint32 {
	t.Helper()
	ins := make([]xbpf.Instruction, len(prog))
	for i, p := range prog {
		ins[i] = xbpf.RawInstruction{Op: p.Code, Jt: p.Jt, Jf: p.Jf, K: p.K}.Disassemble()
	}
	vm, err := xbpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v\n%s", err, Disassemble(prog, nil))
	}
	in := make([]byte, 4)
	binary.BigEndian.PutUint32(in, word) // the VM loads big-endian
	got, err := vm.Run(in)
	if err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	return uint32(got)
}

func filler(b *Builder, n int) {
	for range n {
		b.LoadAbs(0)
	}
}

func TestLongJumps(t *testing.T) {
	tests := []struct {
		desc       string
		gapT, gapF int // instructions between the jump and its targets
	}{
		{desc: "both near", gapT: 10, gapF: 0},
		{desc: "true target exactly 255 away", gapT: 254, gapF: 0},
		{desc: "true target 256 away needs a long jump", gapT: 255, gapF: 0},
		{desc: "false target far", gapT: 0, gapF: 400},
		{desc: "both far", gapT: 300, gapF: 600},
		{desc: "far beyond 64k", gapT: 70000, gapF: 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := NewBuilder()
			lt, lf := b.NewLabel(), b.NewLabel()
			b.LoadAbs(0)
			b.JumpIf(BPF_JEQ, 7, lt, lf)
			// Layout: jump, F-gap, [lf: ret 2], T-gap, [lt: ret 1]. The
			// false target comes first so both gaps are independent.
			filler(b, tc.gapF)
			b.Bind(lf)
			b.Ret(2)
			filler(b, tc.gapT)
			b.Bind(lt)
			b.Ret(1)
			prog, err := b.Program()
			if err != nil {
				if len(prog) > MaxInstructions || tc.gapT > MaxInstructions {
					// Too long for the kernel, but the layout must still be
					// right; Check rejects it only for its length.
					if !strings.Contains(err.Error(), "kernel limit") {
						t.Fatal(err)
					}
					return
				}
				t.Fatal(err)
			}
			if got := run(t, prog, 7); got != 1 {
				t.Errorf("A=7: got %d, want 1\n%s", got, Disassemble(prog, nil))
			}
			if got := run(t, prog, 8); got != 2 {
				t.Errorf("A=8: got %d, want 2", got)
			}
		})
	}
}

// TestRandomLadders builds random compare ladders with random padding (so
// many jumps are long) and checks every path in the VM.
func TestRandomLadders(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := range 200 {
		n := 1 + rng.Intn(20)
		b := NewBuilder()
		labels := make([]Label, n)
		for i := range labels {
			labels[i] = b.NewLabel()
		}
		def := b.NewLabel()
		b.LoadAbs(0)
		for i := range n {
			next := b.NewLabel()
			b.JumpIf(BPF_JEQ, uint32(i), labels[i], next)
			b.Bind(next)
			b.LoadAbs(0)
		}
		b.JumpTo(def)
		for i := range n {
			filler(b, rng.Intn(300))
			b.Bind(labels[i])
			b.Ret(uint32(100 + i))
		}
		filler(b, rng.Intn(300))
		b.Bind(def)
		b.Ret(99)
		prog, err := b.Program()
		if err != nil {
			if strings.Contains(err.Error(), "kernel limit") {
				continue
			}
			t.Fatalf("iteration %d: %v", iter, err)
		}
		for i := range n + 2 {
			want := uint32(100 + i)
			if i >= n {
				want = 99
			}
			if got := run(t, prog, uint32(i)); got != want {
				t.Fatalf("iteration %d, A=%d: got %d, want %d\n%s", iter, i, got, want, Disassemble(prog, nil))
			}
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder()
	l := b.NewLabel()
	b.Ret(0)
	if _, err := b.Program(); err == nil || !strings.Contains(err.Error(), "never bound") {
		t.Errorf("unbound label: got %v", err)
	}

	b = NewBuilder()
	l = b.NewLabel()
	b.Bind(l)
	b.LoadAbs(0)
	b.JumpIf(BPF_JEQ, 1, l, l)
	b.Ret(0)
	if _, err := b.Program(); err == nil || !strings.Contains(err.Error(), "backwards") {
		t.Errorf("backward jump: got %v", err)
	}

	b = NewBuilder()
	l = b.NewLabel()
	b.Bind(l)
	b.Bind(l)
	if _, err := b.Program(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("double bind: got %v", err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		desc string
		prog []unix.SockFilter
		want string // substring of the error, "" for none
	}{
		{desc: "empty", prog: nil, want: "empty"},
		{desc: "ret only", prog: []unix.SockFilter{Stmt(BPF_RET|BPF_K, 0)}},
		{desc: "falls off the end", prog: []unix.SockFilter{Stmt(BPF_LD|BPF_W|BPF_ABS, 0)}, want: "not a return"},
		{desc: "jump past end", prog: []unix.SockFilter{Jump(BPF_JMP|BPF_JEQ, 0, 1, 0), Stmt(BPF_RET|BPF_K, 0)}, want: "past the end"},
		{desc: "ja past end", prog: []unix.SockFilter{Stmt(BPF_JMP|BPF_JA, 1), Stmt(BPF_RET|BPF_K, 0)}, want: "past the end"},
		{desc: "too long", prog: make([]unix.SockFilter, MaxInstructions+1), want: "kernel limit"},
	}
	for _, tc := range tests {
		err := Check(tc.prog)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want error containing %q", tc.desc, err, tc.want)
		}
	}
}

func TestPathStats(t *testing.T) {
	// ld; jeq -> (ld; ld; ret) | ret : longest path is 5.
	prog := []unix.SockFilter{
		Stmt(BPF_LD|BPF_W|BPF_ABS, 0),
		Jump(BPF_JMP|BPF_JEQ, 1, 0, 3),
		Stmt(BPF_LD|BPF_W|BPF_ABS, 0),
		Stmt(BPF_LD|BPF_W|BPF_ABS, 0),
		Stmt(BPF_RET|BPF_K, 1),
		Stmt(BPF_RET|BPF_K, 2),
	}
	got, err := PathStats(prog)
	if err != nil || got != 5 {
		t.Errorf("PathStats = %d, %v; want 5", got, err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		ins  unix.SockFilter
		want string
	}{
		{Stmt(BPF_LD|BPF_W|BPF_ABS, 4), "ld [4]"},
		{Stmt(BPF_LD|BPF_IMM, 9), "ld #0x9"},
		{Stmt(BPF_ALU|BPF_AND|BPF_K, 0xff), "and #0xff"},
		{Jump(BPF_JMP|BPF_JEQ|BPF_K, 0xc000003e, 0, 3), "jeq #0xc000003e, 11, 14"},
		{Jump(BPF_JMP|BPF_JSET|BPF_K, 0x40000000, 1, 0), "jset #0x40000000, 12, 11"},
		{Stmt(BPF_JMP|BPF_JA, 300), "ja 311"},
		{Stmt(BPF_RET|BPF_K, 0x7fff0000), "ret #0x7fff0000"},
		{Stmt(BPF_RET|BPF_A, 0), "ret a"},
		{Stmt(BPF_MISC|BPF_TAX, 0), "tax"},
		{unix.SockFilter{Code: 0xffff}, ".word code=0xffff jt=0 jf=0 k=0x0"},
	}
	for _, tc := range tests {
		if got := Decode(10, tc.ins); got != tc.want {
			t.Errorf("Decode(%+v) = %q, want %q", tc.ins, got, tc.want)
		}
	}
	out := Disassemble([]unix.SockFilter{Stmt(BPF_RET|BPF_K, 0)}, map[int]string{0: "kill"})
	if !strings.HasPrefix(out, "0000: ret #0x0") || !strings.Contains(out, "; kill") {
		t.Errorf("Disassemble = %q", out)
	}
}
