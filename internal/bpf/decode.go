package bpf

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Decode renders one instruction at index pc in the syntax of the kernel's
// bpf_dbg/bpf_asm tools, with jump targets as absolute instruction indexes.
// Unknown encodings are rendered as raw words rather than rejected, so a
// broken program can still be inspected.
func Decode(pc int, ins unix.SockFilter) string {
	k := ins.K
	switch class(ins.Code) {
	case BPF_LD, BPF_LDX:
		reg := "ld"
		if class(ins.Code) == BPF_LDX {
			reg = "ldx"
		}
		size := map[uint16]string{BPF_W: "", BPF_H: "h", BPF_B: "b"}[ins.Code&0x18]
		switch ins.Code & 0xe0 {
		case BPF_IMM:
			return fmt.Sprintf("%s #%#x", reg, k)
		case BPF_ABS:
			return fmt.Sprintf("%s%s [%d]", reg, size, k)
		case BPF_IND:
			return fmt.Sprintf("%s%s [x + %d]", reg, size, k)
		case BPF_MEM:
			return fmt.Sprintf("%s M[%d]", reg, k)
		case BPF_LEN:
			return fmt.Sprintf("%s #len", reg)
		case BPF_MSH:
			return fmt.Sprintf("ldxb 4*([%d]&0xf)", k)
		}
	case BPF_ST:
		return fmt.Sprintf("st M[%d]", k)
	case BPF_STX:
		return fmt.Sprintf("stx M[%d]", k)
	case BPF_ALU:
		op, ok := map[uint16]string{
			BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div",
			BPF_OR: "or", BPF_AND: "and", BPF_LSH: "lsh", BPF_RSH: "rsh",
			BPF_NEG: "neg", BPF_MOD: "mod", BPF_XOR: "xor",
		}[ins.Code&0xf0]
		if !ok {
			break
		}
		if ins.Code&0xf0 == BPF_NEG {
			return op
		}
		if ins.Code&BPF_X != 0 {
			return op + " x"
		}
		return fmt.Sprintf("%s #%#x", op, k)
	case BPF_JMP:
		if ins.Code&0xf0 == BPF_JA {
			return fmt.Sprintf("ja %d", pc+1+int(k))
		}
		op, ok := map[uint16]string{BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}[ins.Code&0xf0]
		if !ok {
			break
		}
		src := fmt.Sprintf("#%#x", k)
		if ins.Code&BPF_X != 0 {
			src = "x"
		}
		return fmt.Sprintf("%s %s, %d, %d", op, src, pc+1+int(ins.Jt), pc+1+int(ins.Jf))
	case BPF_RET:
		switch ins.Code & 0x18 {
		case BPF_K:
			return fmt.Sprintf("ret #%#x", k)
		case BPF_A:
			return "ret a"
		case BPF_X:
			return "ret x"
		}
	case BPF_MISC:
		switch ins.Code & 0xf8 {
		case BPF_TAX:
			return "tax"
		case BPF_TXA:
			return "txa"
		}
	}
	return fmt.Sprintf(".word code=%#04x jt=%d jf=%d k=%#x", ins.Code, ins.Jt, ins.Jf, k)
}

// Disassemble renders prog one instruction per line, prefixed with its
// index. comments, if not nil, maps an index to a note appended to its line
// (see (*Builder).ProgramWithComments).
func Disassemble(prog []unix.SockFilter, comments map[int]string) string {
	var sb strings.Builder
	for pc, ins := range prog {
		line := fmt.Sprintf("%04d: %s", pc, Decode(pc, ins))
		if c := comments[pc]; c != "" {
			line = fmt.Sprintf("%-40s ; %s", line, c)
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	return sb.String()
}
