package bpf

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Label names a position in a program under construction. Labels are made
// by (*Builder).NewLabel and placed with (*Builder).Bind.
type Label int

// node is one instruction of a program under construction, or a label
// marker (which occupies no space).
type node struct {
	label  Label // >= 0 for a marker, -1 for an instruction
	ins    unix.SockFilter
	jt, jf Label // targets of a conditional jump, or jt of BPF_JA
	jump   bool  // jt/jf are symbolic
	farT   bool  // jt needs a trampoline (long jump)
	farF   bool  // jf needs a trampoline
	note   *Note // its comment, formatted only when asked for
}

// Note is a comment on one instruction of a finished program, kept
// unformatted: a compile for the kernel never reads it, so it should not
// pay for fmt (about a tenth of a seccomp compile).
type Note struct {
	At     int // instruction index
	Format string
	Args   []any
}

// String formats the note.
func (n Note) String() string { return fmt.Sprintf(n.Format, n.Args...) }

// Builder assembles a cBPF program whose jumps name labels instead of
// offsets. cBPF can only jump forwards, and a conditional jump reaches at
// most 255 instructions ahead; Program resolves the labels and, where a
// target is too far, routes the jump through an unconditional BPF_JA (which
// has a 32-bit offset) placed right after it.
//
// The zero value is not usable; call NewBuilder.
type Builder struct {
	nodes  []node
	labels int
	bound  []bool
	err    error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{}
}

// NewLabel returns a fresh, unbound label.
func (b *Builder) NewLabel() Label {
	b.labels++
	b.bound = append(b.bound, false)
	return Label(b.labels - 1)
}

// Bind places l before the next instruction added.
func (b *Builder) Bind(l Label) {
	if int(l) < 0 || int(l) >= b.labels {
		b.setErr(fmt.Errorf("bind of unknown label %d", l))
		return
	}
	if b.bound[l] {
		b.setErr(fmt.Errorf("label %d bound twice", l))
		return
	}
	b.bound[l] = true
	b.nodes = append(b.nodes, node{label: l})
}

// Stmt appends a non-jump instruction.
func (b *Builder) Stmt(code uint16, k uint32) {
	if class(code) == BPF_JMP {
		b.setErr(fmt.Errorf("Stmt used for jump code %#x; use JumpTo or JumpIf", code))
		return
	}
	b.nodes = append(b.nodes, node{label: -1, ins: Stmt(code, k)})
}

// LoadAbs appends "ld [off]" (a 32-bit absolute load into A).
func (b *Builder) LoadAbs(off uint32) { b.Stmt(BPF_LD|BPF_W|BPF_ABS, off) }

// Ret appends "ret #k".
func (b *Builder) Ret(k uint32) { b.Stmt(BPF_RET|BPF_K, k) }

// JumpTo appends an unconditional jump to l.
func (b *Builder) JumpTo(l Label) {
	b.nodes = append(b.nodes, node{label: -1, ins: unix.SockFilter{Code: BPF_JMP | BPF_JA}, jt: l, jump: true})
}

// JumpIf appends a conditional jump comparing A with k: op is one of
// BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET.
func (b *Builder) JumpIf(op uint16, k uint32, jt, jf Label) {
	if op&^0xf0 != 0 || op == BPF_JA {
		b.setErr(fmt.Errorf("JumpIf with bad operation %#x", op))
		return
	}
	b.nodes = append(b.nodes, node{label: -1, ins: unix.SockFilter{Code: BPF_JMP | op | BPF_K, K: k}, jt: jt, jf: jf, jump: true})
}

// Comment attaches a note to the last instruction added. Comments are not
// part of the program; ProgramWithComments returns them for disassembly.
func (b *Builder) Comment(format string, args ...any) {
	for i := len(b.nodes) - 1; i >= 0; i-- {
		if b.nodes[i].label < 0 {
			b.nodes[i].note = &Note{Format: format, Args: args}
			return
		}
	}
}

// Len returns the number of instructions added so far, before long jumps.
func (b *Builder) Len() int {
	n := 0
	for _, nd := range b.nodes {
		if nd.label < 0 {
			n++
		}
	}
	return n
}

func (b *Builder) setErr(err error) {
	if b.err == nil {
		b.err = err
	}
}

// size is the number of instructions nd occupies once laid out.
func (nd *node) size() int {
	if nd.label >= 0 {
		return 0
	}
	n := 1
	if nd.farT {
		n++
	}
	if nd.farF {
		n++
	}
	return n
}

// Program resolves labels and returns the finished program.
func (b *Builder) Program() ([]unix.SockFilter, error) {
	prog, _, err := b.ProgramWithComments()
	return prog, err
}

// ProgramWithComments is Program, also returning the comments keyed by
// instruction index.
func (b *Builder) ProgramWithComments() ([]unix.SockFilter, map[int]string, error) {
	prog, notes, err := b.ProgramWithNotes()
	if err != nil {
		return nil, nil, err
	}
	return prog, Comments(notes), nil
}

// Comments formats notes, keyed by instruction index, for Disassemble.
func Comments(notes []Note) map[int]string {
	m := make(map[int]string, len(notes))
	for _, n := range notes {
		m[n.At] = n.String()
	}
	return m
}

// ProgramWithNotes is Program, also returning the comments unformatted.
func (b *Builder) ProgramWithNotes() ([]unix.SockFilter, []Note, error) {
	if b.err != nil {
		return nil, nil, b.err
	}
	for l, ok := range b.bound {
		if !ok {
			return nil, nil, fmt.Errorf("label %d is never bound", l)
		}
	}
	// Lay out until no jump needs a new trampoline. Each pass can only turn
	// far flags on, and each jump has two, so this terminates.
	pos := make([]int, len(b.nodes))
	labelPos := make([]int, b.labels)
	for {
		p := 0
		for i := range b.nodes {
			pos[i] = p
			if b.nodes[i].label >= 0 {
				labelPos[b.nodes[i].label] = p
			}
			p += b.nodes[i].size()
		}
		changed := false
		for i := range b.nodes {
			nd := &b.nodes[i]
			if !nd.jump || nd.ins.Code&0xf0 == BPF_JA {
				continue
			}
			// Offsets count from the instruction after the jump; trampolines
			// sit between the jump and every target, so they are included.
			from := pos[i] + 1
			if !nd.farT && labelPos[nd.jt]-from > 255 {
				nd.farT, changed = true, true
			}
			if !nd.farF && labelPos[nd.jf]-from > 255 {
				nd.farF, changed = true, true
			}
		}
		if !changed {
			break
		}
	}

	var out []unix.SockFilter
	var notes []Note
	for i := range b.nodes {
		nd := &b.nodes[i]
		if nd.label >= 0 {
			continue
		}
		if nd.note != nil {
			n := *nd.note
			n.At = len(out)
			notes = append(notes, n)
		}
		if !nd.jump {
			out = append(out, nd.ins)
			continue
		}
		next := pos[i] + nd.size()
		rel := func(l Label, from int) (int, error) {
			off := labelPos[l] - from
			if off < 0 {
				return 0, fmt.Errorf("instruction %d jumps backwards to label %d; cBPF jumps only forwards", pos[i], l)
			}
			return off, nil
		}
		if nd.ins.Code&0xf0 == BPF_JA {
			off, err := rel(nd.jt, pos[i]+1)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, Stmt(BPF_JMP|BPF_JA, uint32(off)))
			continue
		}
		ins := nd.ins
		var tramp []unix.SockFilter
		// Trampolines follow the jump: the true one first, then the false one.
		if nd.farT {
			ins.Jt = uint8(len(tramp))
			off, err := rel(nd.jt, pos[i]+2+len(tramp))
			if err != nil {
				return nil, nil, err
			}
			tramp = append(tramp, Stmt(BPF_JMP|BPF_JA, uint32(off)))
		}
		if nd.farF {
			ins.Jf = uint8(len(tramp))
			off, err := rel(nd.jf, pos[i]+2+len(tramp))
			if err != nil {
				return nil, nil, err
			}
			tramp = append(tramp, Stmt(BPF_JMP|BPF_JA, uint32(off)))
		}
		if !nd.farT {
			off, err := rel(nd.jt, next)
			if err != nil {
				return nil, nil, err
			}
			ins.Jt = uint8(off + len(tramp))
		}
		if !nd.farF {
			off, err := rel(nd.jf, next)
			if err != nil {
				return nil, nil, err
			}
			ins.Jf = uint8(off + len(tramp))
		}
		out = append(out, ins)
		out = append(out, tramp...)
	}
	if err := Check(out); err != nil {
		return nil, nil, fmt.Errorf("assembled program is malformed: %w", err)
	}
	return out, notes, nil
}
