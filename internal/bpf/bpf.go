package bpf

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Instruction classes, sizes, modes and operations, from <linux/bpf_common.h>.
const (
	// Classes (code & 0x07).
	BPF_LD   = 0x00
	BPF_LDX  = 0x01
	BPF_ST   = 0x02
	BPF_STX  = 0x03
	BPF_ALU  = 0x04
	BPF_JMP  = 0x05
	BPF_RET  = 0x06
	BPF_MISC = 0x07

	// Load sizes (code & 0x18).
	BPF_W = 0x00
	BPF_H = 0x08
	BPF_B = 0x10

	// Load modes (code & 0xe0).
	BPF_IMM = 0x00
	BPF_ABS = 0x20
	BPF_IND = 0x40
	BPF_MEM = 0x60
	BPF_LEN = 0x80
	BPF_MSH = 0xa0

	// ALU and jump operations (code & 0xf0).
	BPF_ADD  = 0x00
	BPF_SUB  = 0x10
	BPF_MUL  = 0x20
	BPF_DIV  = 0x30
	BPF_OR   = 0x40
	BPF_AND  = 0x50
	BPF_LSH  = 0x60
	BPF_RSH  = 0x70
	BPF_NEG  = 0x80
	BPF_MOD  = 0x90
	BPF_XOR  = 0xa0
	BPF_JA   = 0x00
	BPF_JEQ  = 0x10
	BPF_JGT  = 0x20
	BPF_JGE  = 0x30
	BPF_JSET = 0x40

	// Operand source (code & 0x08).
	BPF_K = 0x00
	BPF_X = 0x08

	// Return value source (code & 0x18), from <linux/filter.h>.
	BPF_A = 0x10

	// Misc operations (code & 0xf8).
	BPF_TAX = 0x00
	BPF_TXA = 0x80
)

// MaxInstructions is BPF_MAXINSNS: the kernel rejects longer programs.
const MaxInstructions = 4096

// Stmt returns a non-jump instruction.
func Stmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

// Jump returns a jump instruction with raw relative offsets.
func Jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

func class(code uint16) uint16 { return code & 0x07 }

// isCondJump reports whether code is a conditional jump (8-bit offsets).
func isCondJump(code uint16) bool {
	return class(code) == BPF_JMP && code&0xf0 != BPF_JA
}

// Check verifies that prog is well formed in the way the kernel's
// bpf_check_classic requires for control flow: it is non-empty, not longer
// than MaxInstructions, every jump lands inside the program and the last
// instruction is a return, so every path ends in a return. It does not
// check load offsets; what is in bounds depends on the program type.
func Check(prog []unix.SockFilter) error {
	n := len(prog)
	if n == 0 {
		return errors.New("empty program")
	}
	if n > MaxInstructions {
		return fmt.Errorf("program has %d instructions, more than the kernel limit %d", n, MaxInstructions)
	}
	for i, ins := range prog {
		if class(ins.Code) != BPF_JMP {
			continue
		}
		if ins.Code&0xf0 == BPF_JA {
			if uint64(i)+1+uint64(ins.K) >= uint64(n) {
				return fmt.Errorf("instruction %d: jump past the end of the program", i)
			}
			continue
		}
		if i+1+int(ins.Jt) >= n || i+1+int(ins.Jf) >= n {
			return fmt.Errorf("instruction %d: jump past the end of the program", i)
		}
	}
	if class(prog[n-1].Code) != BPF_RET {
		return errors.New("last instruction is not a return")
	}
	return nil
}

// PathStats returns the length of the longest path through prog, counted in
// executed instructions including the final return. cBPF only jumps forwards, so the program is a DAG and
// one backwards pass suffices. prog must pass Check.
func PathStats(prog []unix.SockFilter) (maxPath int, err error) {
	if err := Check(prog); err != nil {
		return 0, err
	}
	longest := make([]int, len(prog))
	for i := len(prog) - 1; i >= 0; i-- {
		ins := prog[i]
		switch {
		case class(ins.Code) == BPF_RET:
			longest[i] = 1
		case class(ins.Code) == BPF_JMP && ins.Code&0xf0 == BPF_JA:
			longest[i] = 1 + longest[i+1+int(ins.K)]
		case class(ins.Code) == BPF_JMP:
			longest[i] = 1 + max(longest[i+1+int(ins.Jt)], longest[i+1+int(ins.Jf)])
		default:
			longest[i] = 1 + longest[i+1]
		}
	}
	return longest[0], nil
}
