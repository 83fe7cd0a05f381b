package static

import (
	"slices"

	"golang.org/x/arch/x86/x86asm"
)

// The data flow is a forward constant propagation over one function's
// basic blocks. A value is unknown, a constant, a parameter (a register's
// or an incoming stack slot's value at the function's entry), or an
// address relative to the entry stack pointer (so that spills through
// RSP or a frame pointer in RBP find their slots again).
type vkind uint8

const (
	vUnknown vkind = iota
	vConst
	vParamReg   // n: register index (0 RAX ... 15 R15)
	vParamStack // n: offset from the entry RSP (8 is the first stack argument)
	vSPRel      // n: offset from the entry RSP
	vGlobal     // n: address of a global variable the value was loaded from
)

type value struct {
	k vkind
	n int64
}

var unknown = value{}

func konst(n int64) value { return value{vConst, n} }

// param says where a function's syscall number arrives from its caller.
type param struct {
	stack bool  // an incoming stack slot rather than a register
	n     int64 // register index, or offset from the entry RSP
}

func (v value) param() (param, bool) {
	switch v.k {
	case vParamReg:
		return param{n: v.n}, true
	case vParamStack:
		return param{stack: true, n: v.n}, true
	}
	return param{}, false
}

const (
	rAX = 0
	rCX = 1
	rDX = 2
	rBX = 3
	rSP = 4
	rBP = 5
	rSI = 6
	rDI = 7
	r11 = 11
)

// reg maps an x86asm register to its 64-bit register index and the width
// written, in bytes; high-byte registers (AH...) report width 0.
func reg(r x86asm.Reg) (idx, width int, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return int(r - x86asm.AL), 1, true
	case r >= x86asm.AH && r <= x86asm.BH:
		return int(r - x86asm.AH), 0, true
	case r >= x86asm.SPB && r <= x86asm.R15B:
		return int(r-x86asm.SPB) + 4, 1, true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return int(r - x86asm.AX), 2, true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return int(r - x86asm.EAX), 4, true
	case r >= x86asm.RAX && r <= x86asm.R15:
		return int(r - x86asm.RAX), 8, true
	}
	return 0, 0, false
}

type slot struct {
	v    value
	size int
}

// state is the abstract machine at one point.
type state struct {
	reg   [16]value
	stack map[int64]slot // by offset from the entry RSP; absent: the entry contents
	// lost: a store went to an unknown stack address, so absent slots are
	// unknown too (stores after it are tracked again).
	lost bool
	next uint64 // address of the instruction after the one being stepped (RIP)
}

func entryState() *state {
	s := &state{stack: map[int64]slot{}}
	for i := range s.reg {
		s.reg[i] = value{vParamReg, int64(i)}
	}
	s.reg[rSP] = value{vSPRel, 0}
	return s
}

// lostState is the state of a block no analysed edge reaches (an
// indirect jump's target): nothing is known.
func lostState() *state {
	return &state{stack: map[int64]slot{}, lost: true}
}

func (s *state) clone() *state {
	c := *s
	c.stack = make(map[int64]slot, len(s.stack))
	for k, v := range s.stack {
		c.stack[k] = v
	}
	return &c
}

// load reads size bytes at offset off from the entry RSP.
func (s *state) load(off int64, size int) value {
	if sl, ok := s.stack[off]; ok {
		switch {
		case sl.size == size:
			return sl.v
		case size < sl.size && sl.v.k == vConst:
			return konst(truncate(sl.v.n, size))
		case size == 4 && sl.size == 8 && sl.v.k != vSPRel:
			return sl.v // the low half of a parameter still names it
		}
		return unknown
	}
	for k, sl := range s.stack {
		if k < off+int64(size) && off < k+int64(sl.size) {
			return unknown // a partial overlap
		}
	}
	if off >= 8 && (size == 8 || size == 4) && !s.lost {
		return value{vParamStack, off}
	}
	return unknown
}

func (s *state) store(off int64, size int, v value) {
	for k, sl := range s.stack {
		if k != off && k < off+int64(size) && off < k+int64(sl.size) {
			s.stack[k] = slot{unknown, sl.size}
		}
	}
	s.stack[off] = slot{v, size}
}

// clobberFrame forgets what a callee may have written: the whole frame
// below the entry RSP (the callee's register-argument spill area lives at
// the bottom of it). Slots at and above the entry RSP belong to the
// caller, and only this function writes its own argument spill slots.
func (s *state) clobberFrame() {
	for k, sl := range s.stack {
		if k < 0 {
			s.stack[k] = slot{unknown, sl.size}
		}
	}
}

func truncate(n int64, size int) int64 {
	switch size {
	case 1:
		return int64(uint8(n))
	case 2:
		return int64(uint16(n))
	case 4:
		return int64(uint32(n))
	}
	return n
}

func join(a, b value) value {
	if a == b {
		return a
	}
	return unknown
}

// joinInto merges in into *dst and reports whether *dst changed.
func joinInto(dst **state, in *state) bool {
	if *dst == nil {
		*dst = in.clone()
		return true
	}
	d := *dst
	changed := false
	for i := range d.reg {
		if j := join(d.reg[i], in.reg[i]); j != d.reg[i] {
			d.reg[i] = j
			changed = true
		}
	}
	if in.lost && !d.lost {
		// Compute the joined slots against d's view before marking it.
		keys := map[int64]int{}
		for k, sl := range d.stack {
			keys[k] = sl.size
		}
		for k, sl := range in.stack {
			keys[k] = sl.size
		}
		ns := map[int64]slot{}
		for k, sz := range keys {
			if j := join(d.load(k, sz), in.load(k, sz)); j != unknown {
				ns[k] = slot{j, sz}
			}
		}
		d.stack, d.lost = ns, true
		return true
	}
	keys := map[int64]int{}
	for k, sl := range d.stack {
		keys[k] = sl.size
	}
	for k, sl := range in.stack {
		if sz, ok := keys[k]; !ok || sz < sl.size {
			keys[k] = sl.size
		}
	}
	for k, sz := range keys {
		a, b := d.load(k, sz), in.load(k, sz)
		j := join(a, b)
		old, had := d.stack[k]
		if !had && j == a {
			continue // unchanged: d's absent contents on both sides
		}
		if !had || old.v != j || old.size != sz {
			d.stack[k] = slot{j, sz}
			changed = true
		}
	}
	return changed
}

// memAddr returns the offset from the entry RSP that m addresses, if it
// addresses the stack through a known base.
func (s *state) memAddr(m x86asm.Mem) (int64, bool) {
	if m.Segment != 0 || m.Index != 0 {
		return 0, false
	}
	i, w, ok := reg(m.Base)
	if !ok || w != 8 {
		return 0, false
	}
	if b := s.reg[i]; b.k == vSPRel {
		return b.n + m.Disp, true
	}
	return 0, false
}

// setReg writes v to register r with x86-64's width rules: 32-bit writes
// zero-extend, 8- and 16-bit writes merge (unknown unless both constant).
func (s *state) setReg(r x86asm.Reg, v value) {
	i, w, ok := reg(r)
	if !ok {
		return
	}
	switch w {
	case 8:
		s.reg[i] = v
	case 4:
		switch v.k {
		case vConst:
			s.reg[i] = konst(truncate(v.n, 4))
		case vSPRel, vGlobal:
			s.reg[i] = unknown
		default:
			s.reg[i] = v // the low 32 bits of a parameter: a syscall number still
		}
	default:
		s.reg[i] = unknown
	}
}

// getReg reads register r at its width.
func (s *state) getReg(r x86asm.Reg) value {
	i, w, ok := reg(r)
	if !ok {
		return unknown
	}
	v := s.reg[i]
	switch {
	case w == 8:
		return v
	case v.k == vConst && w > 0:
		return konst(truncate(v.n, w))
	case w == 4 && (v.k == vParamReg || v.k == vParamStack):
		return v
	}
	return unknown
}

// operand evaluates a source operand.
func (s *state) operand(a x86asm.Arg, memBytes int) value {
	switch a := a.(type) {
	case x86asm.Reg:
		return s.getReg(a)
	case x86asm.Imm:
		return konst(int64(a))
	case x86asm.Mem:
		if off, ok := s.memAddr(a); ok {
			return s.load(off, memBytes)
		}
		if a.Base == x86asm.RIP && a.Index == 0 && a.Segment == 0 && (memBytes == 8 || memBytes == 4) {
			return value{vGlobal, int64(s.next) + a.Disp}
		}
	}
	return unknown
}

// write stores v in a destination operand.
func (s *state) write(a x86asm.Arg, memBytes int, v value) {
	switch a := a.(type) {
	case x86asm.Reg:
		s.setReg(a, v)
	case x86asm.Mem:
		if off, ok := s.memAddr(a); ok {
			s.store(off, memBytes, v)
		} else if s.mayBeStack(a) {
			s.loseStack()
		}
	}
}

// mayBeStack reports whether a store through m may hit a tracked slot:
// its base is a stack address or the stack pointer (an indexed store into
// a local array, or one while the depth is unknown).
func (s *state) mayBeStack(m x86asm.Mem) bool {
	i, _, ok := reg(m.Base)
	if !ok {
		return false
	}
	return i == rSP || s.reg[i].k == vSPRel
}

// loseStack forgets every slot's contents.
func (s *state) loseStack() {
	s.lost = true
	s.stack = map[int64]slot{}
}

func (s *state) clobber(regs ...int) {
	for _, r := range regs {
		s.reg[r] = unknown
	}
}

// implicit lists the registers instructions write without naming them.
var implicit = map[x86asm.Op][]int{
	x86asm.MUL: {rAX, rDX}, x86asm.IMUL: {rAX, rDX}, x86asm.DIV: {rAX, rDX}, x86asm.IDIV: {rAX, rDX},
	x86asm.CQO: {rDX}, x86asm.CDQ: {rDX}, x86asm.CWD: {rDX}, x86asm.CDQE: {rAX}, x86asm.CWDE: {rAX}, x86asm.CBW: {rAX},
	x86asm.CPUID: {rAX, rBX, rCX, rDX}, x86asm.RDTSC: {rAX, rDX}, x86asm.RDTSCP: {rAX, rCX, rDX},
	x86asm.XGETBV:  {rAX, rDX},
	x86asm.CMPXCHG: {rAX}, x86asm.CMPXCHG8B: {rAX, rDX}, x86asm.CMPXCHG16B: {rAX, rDX},
	x86asm.MOVSB: {rSI, rDI, rCX}, x86asm.MOVSW: {rSI, rDI, rCX}, x86asm.MOVSD: {rSI, rDI, rCX}, x86asm.MOVSQ: {rSI, rDI, rCX},
	x86asm.STOSB: {rDI, rCX}, x86asm.STOSW: {rDI, rCX}, x86asm.STOSD: {rDI, rCX}, x86asm.STOSQ: {rDI, rCX},
	x86asm.LODSB: {rAX, rSI, rCX}, x86asm.LODSW: {rAX, rSI, rCX}, x86asm.LODSD: {rAX, rSI, rCX}, x86asm.LODSQ: {rAX, rSI, rCX},
	x86asm.SCASB: {rDI, rCX}, x86asm.SCASW: {rDI, rCX}, x86asm.SCASD: {rDI, rCX}, x86asm.SCASQ: {rDI, rCX},
	x86asm.CMPSB: {rSI, rDI, rCX}, x86asm.CMPSW: {rSI, rDI, rCX}, x86asm.CMPSD: {rSI, rDI, rCX}, x86asm.CMPSQ: {rSI, rDI, rCX},
	x86asm.LOOP: {rCX}, x86asm.LOOPE: {rCX}, x86asm.LOOPNE: {rCX},
	x86asm.SYSCALL: {rAX, rCX, r11},
	x86asm.RDRAND:  {}, x86asm.XCHG: {}, x86asm.XADD: {},
}

// noWrite lists instructions whose first operand is only read.
var noWrite = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.BT: true, x86asm.PUSH: true,
	x86asm.NOP: true, x86asm.PREFETCHT0: true, x86asm.PREFETCHT1: true, x86asm.PREFETCHT2: true,
	x86asm.PREFETCHNTA: true, x86asm.PREFETCHW: true, x86asm.UCOMISS: true, x86asm.UCOMISD: true,
	x86asm.COMISS: true, x86asm.COMISD: true, x86asm.PTEST: true,
}

// conv is the calling convention: which registers survive a call.
type conv struct {
	calleeSaved []int
}

var (
	// Go's ABIInternal: every general register is caller-saved (R14 is
	// g and R15 the GOT pointer in dynamic code, but neither carries a
	// syscall number).
	goConv = conv{}
	// System V: RBX, RBP and R12-R15 survive calls.
	sysvConv = conv{calleeSaved: []int{rBX, rBP, 12, 13, 14, 15}}
)

// step applies one instruction to s.
func (s *state) step(in x86asm.Inst, cv conv) {
	a0, a1 := in.Args[0], in.Args[1]
	switch in.Op {
	case x86asm.MOV:
		s.write(a0, in.MemBytes, s.operand(a1, in.MemBytes))
		return
	case x86asm.MOVZX:
		v := s.operand(a1, in.MemBytes)
		if v.k == vConst {
			size := in.MemBytes
			if r, ok := a1.(x86asm.Reg); ok {
				_, size, _ = reg(r)
			}
			v = konst(truncate(v.n, size))
		} else {
			v = unknown
		}
		s.write(a0, 0, v)
		return
	case x86asm.MOVSXD:
		v := s.operand(a1, 4)
		if v.k == vConst {
			v = konst(int64(int32(v.n)))
		} else if v.k != vParamReg && v.k != vParamStack {
			v = unknown
		}
		s.write(a0, 0, v)
		return
	case x86asm.XOR, x86asm.SUB:
		if r0, ok := a0.(x86asm.Reg); ok && a0 == a1 {
			s.setReg(r0, konst(0))
			return
		}
		if in.Op == x86asm.SUB {
			s.arith(in, func(a, b int64) int64 { return a - b })
			return
		}
		s.arith(in, func(a, b int64) int64 { return a ^ b })
		return
	case x86asm.ADD:
		s.arith(in, func(a, b int64) int64 { return a + b })
		return
	case x86asm.OR:
		s.arith(in, func(a, b int64) int64 { return a | b })
		return
	case x86asm.AND:
		s.arith(in, func(a, b int64) int64 { return a & b })
		return
	case x86asm.LEA:
		v := unknown
		if m, ok := a1.(x86asm.Mem); ok {
			if off, ok := s.memAddr(m); ok {
				v = value{vSPRel, off}
			}
		}
		s.write(a0, 0, v)
		return
	case x86asm.PUSH:
		v := s.operand(a0, 8)
		s.adjustSP(-8)
		if sp := s.reg[rSP]; sp.k == vSPRel {
			s.store(sp.n, 8, v)
		} else {
			s.loseStack()
		}
		return
	case x86asm.POP:
		v := unknown
		if sp := s.reg[rSP]; sp.k == vSPRel {
			v = s.load(sp.n, 8)
		}
		s.adjustSP(8)
		s.write(a0, 8, v)
		return
	case x86asm.LEAVE:
		s.reg[rSP] = s.reg[rBP]
		if s.reg[rSP].k != vSPRel {
			s.reg[rSP] = unknown
		}
		v := unknown
		if sp := s.reg[rSP]; sp.k == vSPRel {
			v = s.load(sp.n, 8)
		}
		s.adjustSP(8)
		s.reg[rBP] = v
		return
	case x86asm.CALL:
		saved := make([]value, len(cv.calleeSaved))
		for i, r := range cv.calleeSaved {
			saved[i] = s.reg[r]
		}
		sp := s.reg[rSP]
		for i := range s.reg {
			s.reg[i] = unknown
		}
		s.reg[rSP] = sp
		for i, r := range cv.calleeSaved {
			s.reg[r] = saved[i]
		}
		s.clobberFrame()
		return
	case x86asm.XCHG, x86asm.XADD:
		v0, v1 := s.operand(a0, in.MemBytes), s.operand(a1, in.MemBytes)
		if in.Op == x86asm.XCHG {
			s.write(a0, in.MemBytes, v1)
			s.write(a1, in.MemBytes, v0)
		} else {
			s.write(a0, in.MemBytes, unknown)
			s.write(a1, in.MemBytes, unknown)
		}
		return
	}
	if regs, ok := implicit[in.Op]; ok {
		s.clobber(regs...)
	}
	if a0 != nil && !noWrite[in.Op] && !isBranch(in.Op) {
		s.write(a0, in.MemBytes, unknown)
	}
}

// arith folds a two-operand ALU instruction; it moves the stack pointer
// for ADD/SUB on RSP.
func (s *state) arith(in x86asm.Inst, f func(a, b int64) int64) {
	a, b := s.operand(in.Args[0], in.MemBytes), s.operand(in.Args[1], in.MemBytes)
	v := unknown
	switch {
	case a.k == vConst && b.k == vConst:
		v = konst(f(a.n, b.n))
	case a.k == vSPRel && b.k == vConst && (in.Op == x86asm.ADD || in.Op == x86asm.SUB):
		v = value{vSPRel, f(a.n, b.n)}
	}
	if r, ok := in.Args[0].(x86asm.Reg); ok {
		if i, w, _ := reg(r); i == rSP && w == 8 && v.k != vSPRel {
			// AND $-16, RSP and the like: the frame is no longer tracked.
			s.reg[rSP] = unknown
			return
		}
	}
	s.write(in.Args[0], in.MemBytes, v)
}

func (s *state) adjustSP(d int64) {
	if sp := s.reg[rSP]; sp.k == vSPRel {
		s.reg[rSP] = value{vSPRel, sp.n + d}
	}
}

func isBranch(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETQ,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return false
}

func isCondJump(op x86asm.Op) bool {
	return isBranch(op) && op != x86asm.JMP && op != x86asm.CALL && op != x86asm.RET &&
		op != x86asm.LRET && op != x86asm.IRET && op != x86asm.IRETQ
}

// ends reports whether execution never falls through in.
func ends(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETQ, x86asm.UD2, x86asm.HLT, x86asm.UD1, x86asm.UD0:
		return true
	}
	return false
}

// insn is one decoded instruction.
type insn struct {
	addr uint64
	in   x86asm.Inst
	bad  bool // undecodable byte, skipped
}

// target returns a direct branch's destination.
func (i insn) target() (uint64, bool) {
	if i.bad {
		return 0, false
	}
	if r, ok := i.in.Args[0].(x86asm.Rel); ok {
		return uint64(int64(i.addr) + int64(i.in.Len) + int64(r)), true
	}
	return 0, false
}

func decodeAll(code []byte, addr uint64) []insn {
	var out []insn
	for off := 0; off < len(code); {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil || in.Len == 0 {
			out = append(out, insn{addr: addr + uint64(off), bad: true, in: x86asm.Inst{Len: 1}})
			off++
			continue
		}
		out = append(out, insn{addr: addr + uint64(off), in: in})
		off += in.Len
	}
	return out
}

// event is what the analysis reports at a SYSCALL or a direct call.
type event struct {
	addr    uint64
	syscall bool
	target  uint64   // a call's or tail jump's destination
	tail    bool     // a JMP out of the function: the callee sees this RSP
	nr      value    // SYSCALL: RAX
	st      *state   // call: the state before the call, when asked for
	_       struct{} // keep the literal forms keyed
}

// flow runs the analysis over one function and calls emit for every
// SYSCALL and every direct call or tail jump out of [lo, hi). want says
// whether a call target's state is needed (it is kept only then).
func flow(ins []insn, lo, hi uint64, cv conv, noret map[uint64]bool, want func(target uint64) bool, emit func(event)) {
	if len(ins) == 0 {
		return
	}
	index := make(map[uint64]int, len(ins))
	for i, x := range ins {
		index[x.addr] = i
	}
	leader := make([]bool, len(ins)+1)
	leader[0] = true
	for i, x := range ins {
		if !isBranch(x.in.Op) && !ends(x.in.Op) {
			continue
		}
		if x.in.Op != x86asm.CALL || noretCall(x, noret) {
			leader[i+1] = true
		}
		if t, ok := x.target(); ok && x.in.Op != x86asm.CALL {
			if j, ok := index[t]; ok {
				leader[j] = true
			}
		}
	}
	var starts []int
	for i := range ins {
		if leader[i] {
			starts = append(starts, i)
		}
	}
	blockOf := make(map[int]int, len(starts))
	for b, i := range starts {
		blockOf[i] = b
	}
	end := func(b int) int {
		if b+1 < len(starts) {
			return starts[b+1]
		}
		return len(ins)
	}
	succ := func(b int) []int {
		last := ins[end(b)-1]
		var out []int
		if t, ok := last.target(); ok && last.in.Op != x86asm.CALL {
			if j, ok := index[t]; ok {
				out = append(out, blockOf[j])
			}
		}
		if (last.bad || !ends(last.in.Op) && !noretCall(last, noret)) && end(b) < len(ins) {
			out = append(out, b+1)
		}
		return out
	}

	in := make([]*state, len(starts))
	in[0] = entryState()
	// fixed marks blocks whose in-state must not change any more.
	var fixed []bool
	var atIndirect *state // the states at indirect jumps, joined
	run := func(seed []int) {
		work := slices.Clone(seed)
		queued := make([]bool, len(starts))
		for _, b := range work {
			queued[b] = true
		}
		for len(work) > 0 {
			b := work[0]
			work = work[1:]
			queued[b] = false
			s := in[b].clone()
			for i := starts[b]; i < end(b); i++ {
				if !ins[i].bad {
					s.next = ins[i].addr + uint64(ins[i].in.Len)
					s.step(ins[i].in, cv)
				}
			}
			if last := ins[end(b)-1]; !last.bad && last.in.Op == x86asm.JMP {
				if _, ok := last.target(); !ok {
					joinInto(&atIndirect, s)
				}
			}
			for _, n := range succ(b) {
				if fixed != nil && fixed[n] {
					continue
				}
				if joinInto(&in[n], s) && !queued[n] {
					queued[n] = true
					work = append(work, n)
				}
			}
		}
	}
	run([]int{0})
	// Blocks no direct edge reaches are the targets of indirect jumps
	// (jump tables): they start from the states at those jumps. In a
	// function without one they are dead code (after a call that never
	// returns): they are still analysed, from nothing known, but do not
	// flow into the code that runs.
	var rest []int
	for b := range starts {
		if in[b] == nil {
			rest = append(rest, b)
		}
	}
	if len(rest) > 0 {
		if atIndirect != nil {
			for _, b := range rest {
				in[b] = atIndirect.clone()
			}
		} else {
			fixed = make([]bool, len(starts))
			for b := range starts {
				fixed[b] = in[b] != nil
			}
			for _, b := range rest {
				in[b] = lostState()
			}
		}
		run(rest)
	}

	for b := range starts {
		s := in[b].clone()
		for i := starts[b]; i < end(b); i++ {
			x := ins[i]
			if x.bad {
				continue
			}
			switch {
			case x.in.Op == x86asm.SYSCALL:
				emit(event{addr: x.addr, syscall: true, nr: s.getReg(x86asm.EAX)})
			case x.in.Op == x86asm.CALL || x.in.Op == x86asm.JMP:
				if t, ok := x.target(); ok && (x.in.Op == x86asm.CALL || t < lo || t >= hi) {
					ev := event{addr: x.addr, target: t, tail: x.in.Op == x86asm.JMP}
					if want != nil && want(t) {
						ev.st = s.clone()
					}
					emit(ev)
				}
			}
			s.next = x.addr + uint64(x.in.Len)
			s.step(x.in, cv)
		}
	}
}

// globalRefs adds to refs every global address x uses other than by
// loading it into a register: stores, address-taking (LEA), immediates.
// A global none of whose references is of these kinds still holds its
// initial value.
func globalRefs(x insn, refs map[uint64]bool) {
	if x.bad {
		return
	}
	next := x.addr + uint64(x.in.Len)
	for i, a := range x.in.Args {
		switch a := a.(type) {
		case x86asm.Mem:
			if a.Base != x86asm.RIP {
				continue
			}
			if x.in.Op == x86asm.MOV && i == 1 {
				if _, ok := x.in.Args[0].(x86asm.Reg); ok {
					continue // a plain load
				}
			}
			if x.in.Op == x86asm.CMP || x.in.Op == x86asm.TEST {
				continue
			}
			refs[uint64(int64(next)+a.Disp)] = true
		case x86asm.Imm:
			refs[uint64(a)] = true
		}
	}
}

// noretCall reports whether x calls a function that never returns (a
// panic, abort): the code after it belongs to another path, often with
// another stack depth, and joining the two would lose the frame.
func noretCall(x insn, noret map[uint64]bool) bool {
	if x.bad || x.in.Op != x86asm.CALL {
		return false
	}
	t, ok := x.target()
	return ok && noret[t]
}

// canReturn reports whether a function's code can leave it other than
// through a call that never returns: a reachable RET, indirect jump, or
// tail jump to a function not in noret.
func canReturn(ins []insn, lo, hi uint64, noret map[uint64]bool) bool {
	index := make(map[uint64]int, len(ins))
	for i, x := range ins {
		index[x.addr] = i
	}
	seen := make([]bool, len(ins))
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		if i >= len(ins) || seen[i] {
			continue
		}
		seen[i] = true
		x := ins[i]
		if x.bad {
			work = append(work, i+1)
			continue
		}
		switch op := x.in.Op; {
		case op == x86asm.RET || op == x86asm.LRET || op == x86asm.IRET || op == x86asm.IRETQ:
			return true
		case op == x86asm.JMP:
			t, ok := x.target()
			if !ok || (t < lo || t >= hi) && !noret[t] {
				return true
			}
			if j, ok := index[t]; ok {
				work = append(work, j)
			}
		case op == x86asm.CALL:
			if !noretCall(x, noret) {
				work = append(work, i+1)
			}
		case isCondJump(op):
			if t, ok := x.target(); ok {
				if j, ok := index[t]; ok {
					work = append(work, j)
				}
			}
			work = append(work, i+1)
		case ends(op):
		default:
			work = append(work, i+1)
		}
	}
	return false
}

// argAt evaluates, in a caller's state at a call (or tail jump), the
// value the callee sees as p.
func argAt(st *state, tail bool, p param) value {
	if !p.stack {
		return st.reg[p.n]
	}
	sp := st.reg[rSP]
	if sp.k != vSPRel {
		return unknown
	}
	off := sp.n + p.n
	if !tail {
		off -= 8 // the return address CALL pushes
	}
	return st.load(off, 8)
}
