package seccomp

import (
	"fmt"
	"math"
	"slices"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/bpf"
)

// Offsets into struct seccomp_data (<linux/seccomp.h>). All supported
// architectures are little-endian, so the low half of a 64-bit argument
// comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

func argLow(i uint) uint32  { return offArgs + 8*uint32(i) }
func argHigh(i uint) uint32 { return offArgs + 8*uint32(i) + 4 }

// Program is a compiled seccomp filter, ready for Install. It is plain data
// so that the runtime can compile it in the parent and send it to the
// container's init as JSON.
type Program struct {
	// Filter is the cBPF program.
	Filter Insns `json:"filter"`
	// Flags are the SECCOMP_FILTER_FLAG_* bits the profile asked for.
	// Install adds TSYNC, and NEW_LISTENER when Notify is set.
	Flags uint `json:"flags"`
	// Notify is set when some syscall may get SCMP_ACT_NOTIFY, so Install
	// must ask for a listener fd.
	Notify bool `json:"notify"`
	// Arch is the GOARCH the filter was compiled for; Install refuses to
	// load it on another.
	Arch string `json:"arch"`
	// Stats describe the filter's size and speed.
	Stats Stats `json:"stats"`

	notes []bpf.Note // the disassembly's comments, formatted when asked
}

// Stats describe a compiled filter.
type Stats struct {
	// Instructions is the length of the filter.
	Instructions int `json:"instructions"`
	// MaxPathLength is the number of instructions executed on the longest
	// path through the filter, the worst per-syscall cost.
	MaxPathLength int `json:"maxPathLength"`
	// Syscalls is the number of distinct native syscalls the profile has
	// rules for.
	Syscalls int `json:"syscalls"`
	// Unknown lists the names no architecture of the filter knows; their
	// rules were ignored, as libseccomp does.
	Unknown []string `json:"unknown,omitempty"`
}

// Disassemble renders the filter for humans, one instruction per line,
// with the syscall each leaf belongs to.
func (p *Program) Disassemble() string {
	return bpf.Disassemble(p.Filter, bpf.Comments(p.notes))
}

// Compile compiles an OCI seccomp profile into a filter for goarch (a
// GOARCH: "amd64", "arm64", "386" or "arm").
//
// The filter first checks seccomp_data.arch: an architecture the profile
// does not list (other than the native one, which is always handled) kills
// the process, as do x32 syscalls on amd64 unless SCMP_ARCH_X32 is listed.
// It then finds the syscall number in a balanced binary decision tree of
// number ranges, so the cost grows with the logarithm of the number of
// rules, and a syscall whose answer does not depend on its arguments is
// decided by number alone. Syscalls with argument rules test them in the
// profile's order, first match wins; 64-bit arguments are compared as two
// 32-bit halves. Names unknown on an architecture are ignored there.
func Compile(cfg *specs.LinuxSeccomp, goarch string) (*Program, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	arches, err := filterArches(goarch, cfg.Architectures)
	if err != nil {
		return nil, err
	}
	defRet, err := actionValue(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	c := &compiler{b: bpf.NewBuilder(), defRet: defRet}
	prog := &Program{Arch: goarch}
	for _, f := range cfg.Flags {
		prog.Flags |= knownFlags[f]
	}

	// One tree per audit architecture: x86_64 and x32 share
	// AUDIT_ARCH_X86_64 and are told apart by number (x32SyscallBit).
	type tree struct {
		auditArch uint32
		segs      []segment
	}
	var trees []tree
	known := map[string]bool{}
	native := arches[0]
	for _, a := range arches {
		entries, names := c.entries(cfg, a)
		for n := range names {
			known[n] = true
		}
		if a == native {
			prog.Stats.Syscalls = len(names)
		}
		if a.arch == specs.ArchX32 {
			continue // merged into the x86_64 tree below
		}
		def := &leaf{fallback: defRet}
		base := []segment{{start: 0, leaf: def}}
		if a.arch == specs.ArchX86_64 {
			// The kernel treats a number with the x32 bit as an x32 syscall.
			x32 := &leaf{fallback: badArchAction}
			i := slices.IndexFunc(arches, func(b *archInfo) bool { return b.arch == specs.ArchX32 })
			if i >= 0 {
				x32 = def
				x32entries, _ := c.entries(cfg, arches[i])
				for nr, l := range x32entries {
					entries[nr] = l
				}
			}
			base = []segment{
				{start: 0, leaf: def},
				{start: x32SyscallBit, leaf: x32},
				{start: 2 * x32SyscallBit, leaf: def},
				{start: 3 * x32SyscallBit, leaf: x32},
			}
		}
		trees = append(trees, tree{auditArch: a.auditArch, segs: segments(base, entries)})
	}
	for _, sc := range cfg.Syscalls {
		for _, n := range sc.Names {
			if !known[n] && !slices.Contains(prog.Stats.Unknown, n) {
				prog.Stats.Unknown = append(prog.Stats.Unknown, n)
			}
		}
	}
	sort.Strings(prog.Stats.Unknown)

	// The architecture dispatch: native first, so the common case pays one
	// comparison.
	b := c.b
	b.LoadAbs(offArch)
	b.Comment("arch")
	labels := make([]bpf.Label, len(trees))
	for i, t := range trees {
		labels[i] = b.NewLabel()
		next := b.NewLabel()
		b.JumpIf(bpf.BPF_JEQ, t.auditArch, labels[i], next)
		b.Bind(next)
	}
	b.Ret(badArchAction)
	b.Comment("foreign architecture")
	for i, t := range trees {
		b.Bind(labels[i])
		b.LoadAbs(offNr)
		b.Comment("nr (arch %#x)", t.auditArch)
		c.tree(t.segs, 1<<32, width(archByAudit(arches, t.auditArch)))
	}
	filter, notes, err := b.ProgramWithNotes()
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	prog.Filter, prog.notes = filter, notes
	prog.Stats.Instructions = len(filter)
	if prog.Stats.MaxPathLength, err = bpf.PathStats(filter); err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	prog.Notify = c.notify
	return prog, nil
}

func archByAudit(arches []*archInfo, audit uint32) *archInfo {
	for _, a := range arches {
		if a.auditArch == audit {
			return a
		}
	}
	panic("seccomp: tree for an architecture not in the filter")
}

func width(a *archInfo) int {
	if a.bits32 {
		return 32
	}
	return 64
}

type compiler struct {
	b      *bpf.Builder
	defRet uint32
	notify bool
}

// entries gathers, for one architecture, the rules of each syscall number
// in profile order and simplifies them. names are the syscall names of the
// profile this architecture knows.
func (c *compiler) entries(cfg *specs.LinuxSeccomp, a *archInfo) (map[uint32]*leaf, map[string]bool) {
	mask := uint64(math.MaxUint64)
	if a.bits32 {
		// Arguments are 32 bits wide; libseccomp compares the low halves.
		mask = math.MaxUint32
	}
	// Sized up front: a default profile names some 350 syscalls per
	// architecture, and growing these maps was most of a compile's time.
	n := 0
	for _, sc := range cfg.Syscalls {
		n += len(sc.Names)
	}
	rules := make(map[uint32][]rule, n)
	names := make(map[string]bool, n)
	nrName := make(map[uint32]string, n)
	for _, sc := range cfg.Syscalls {
		ret, _ := actionValue(sc.Action, sc.ErrnoRet) // checked by Validate
		r := rule{ret: ret}
		for _, arg := range sc.Args {
			r.conds = append(r.conds, cond{index: arg.Index, op: arg.Op, value: arg.Value & mask, two: arg.ValueTwo & mask})
		}
		table := a.table()
		for _, n := range sc.Names {
			nr, ok := table[n]
			if !ok {
				continue
			}
			names[n] = true
			nrName[nr] = n
			rules[nr] = append(rules[nr], r)
		}
	}
	out := make(map[uint32]*leaf, len(rules))
	leaves := make([]leaf, 0, len(rules))
	for nr, rs := range rules {
		leaves = append(leaves, simplify(rs, c.defRet, width(a)))
		l := &leaves[len(leaves)-1]
		l.name = nrName[nr]
		out[nr] = l
	}
	return out, names
}

// tree emits a balanced binary search over segs. Precondition: A holds the
// syscall number.
func (c *compiler) tree(segs []segment, end uint64, width int) {
	b := c.b
	if len(segs) == 1 {
		what := leafName{name: segs[0].leaf.name, lo: uint64(segs[0].start), hi: end - 1}
		if what.lo != what.hi {
			what.name = ""
		}
		c.leaf(segs[0].leaf, width, what)
		return
	}
	mid := len(segs) / 2
	right, left := b.NewLabel(), b.NewLabel()
	b.JumpIf(bpf.BPF_JGE, segs[mid].start, right, left)
	b.Bind(left)
	c.tree(segs[:mid], uint64(segs[mid].start), width)
	b.Bind(right)
	c.tree(segs[mid:], end, width)
}

func (c *compiler) ret(v uint32) {
	if v == retUserNotif {
		c.notify = true
	}
	c.b.Ret(v)
}

// leafName names a leaf in the disassembly's comments: its syscall, or
// its range of numbers. Formatted only if the disassembly is asked for.
type leafName struct {
	name   string
	lo, hi uint64
}

func (n leafName) String() string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("nr %#x-%#x", n.lo, n.hi)
}

func (c *compiler) leaf(l *leaf, width int, what leafName) {
	b := c.b
	for i := 0; i < len(l.rules); i++ {
		if n := eqGroup(l.rules[i:], width); n > 1 {
			c.eqGroup(l.rules[i:i+n], width)
			i += n - 1
			continue
		}
		r := l.rules[i]
		next := b.NewLabel()
		for _, cd := range r.conds {
			pass := b.NewLabel()
			c.cond(cd, width, pass, next)
			b.Bind(pass)
		}
		c.ret(r.ret)
		b.Comment("%v: rule %d matched", what, i)
		b.Bind(next)
	}
	c.ret(l.fallback)
	b.Comment("%v", what)
}

// eqGroup returns how many rules at the start of rules form a set of
// alternative values for one argument: one EQ condition each, on the same
// argument, with the same action and (on 64-bit) the same high half, like
// personality's allowed values. Such a group loads the argument once and
// tests the values in a row instead of reloading it for every rule.
func eqGroup(rules []rule, width int) int {
	first := rules[0]
	if len(first.conds) != 1 || first.conds[0].op != specs.OpEqualTo {
		return 0
	}
	n := 1
	for _, r := range rules[1:] {
		if len(r.conds) != 1 || r.conds[0].op != specs.OpEqualTo || r.ret != first.ret ||
			r.conds[0].index != first.conds[0].index ||
			(width == 64 && r.conds[0].value>>32 != first.conds[0].value>>32) {
			break
		}
		n++
	}
	return n
}

// eqGroup emits a group found by eqGroup.
func (c *compiler) eqGroup(rules []rule, width int) {
	b := c.b
	idx := rules[0].conds[0].index
	match, next := b.NewLabel(), b.NewLabel()
	if width == 64 {
		lo := b.NewLabel()
		b.LoadAbs(argHigh(idx))
		b.JumpIf(bpf.BPF_JEQ, uint32(rules[0].conds[0].value>>32), lo, next)
		b.Bind(lo)
	}
	b.LoadAbs(argLow(idx))
	for i, r := range rules {
		miss := next
		if i < len(rules)-1 {
			miss = b.NewLabel()
		}
		b.JumpIf(bpf.BPF_JEQ, uint32(r.conds[0].value), match, miss)
		if miss != next {
			b.Bind(miss)
		}
	}
	b.Bind(match)
	c.ret(rules[0].ret)
	b.Bind(next)
}

// cond emits a test of one argument condition that jumps to pass or fail.
// 64-bit comparisons decide on the high halves first and look at the low
// halves only when those are equal.
func (c *compiler) cond(cd cond, width int, pass, fail bpf.Label) {
	b := c.b
	lo, hi := uint32(cd.value), uint32(cd.value>>32)
	if width == 32 {
		b.LoadAbs(argLow(cd.index))
		c.cmp32(cd.op, lo, uint32(cd.two), pass, fail)
		return
	}
	if cd.op == specs.OpMaskedEqual && cd.value>>32 == 0 {
		// The high half is masked out; simplify dropped the rule if the
		// datum has high bits, so only the low half matters.
		b.LoadAbs(argLow(cd.index))
		c.cmp32(cd.op, lo, uint32(cd.two), pass, fail)
		return
	}
	then := b.NewLabel()
	b.LoadAbs(argHigh(cd.index))
	switch cd.op {
	case specs.OpEqualTo:
		b.JumpIf(bpf.BPF_JEQ, hi, then, fail)
	case specs.OpNotEqual:
		b.JumpIf(bpf.BPF_JEQ, hi, then, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		eq := b.NewLabel()
		b.JumpIf(bpf.BPF_JGT, hi, pass, eq)
		b.Bind(eq)
		b.JumpIf(bpf.BPF_JEQ, hi, then, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		eq := b.NewLabel()
		b.JumpIf(bpf.BPF_JGT, hi, fail, eq)
		b.Bind(eq)
		b.JumpIf(bpf.BPF_JEQ, hi, then, pass)
	case specs.OpMaskedEqual:
		mhi, dhi := uint32(cd.value>>32), uint32(cd.two>>32)
		if mhi != math.MaxUint32 {
			b.Stmt(bpf.BPF_ALU|bpf.BPF_AND|bpf.BPF_K, mhi)
		}
		b.JumpIf(bpf.BPF_JEQ, dhi, then, fail)
	default:
		panic(fmt.Sprintf("seccomp: operator %q passed Validate", cd.op))
	}
	b.Bind(then)
	b.LoadAbs(argLow(cd.index))
	c.cmp32(cd.op, lo, uint32(cd.two), pass, fail)
}

// cmp32 emits the comparison of A (a 32-bit word) with v.
func (c *compiler) cmp32(op specs.LinuxSeccompOperator, v, two uint32, pass, fail bpf.Label) {
	b := c.b
	switch op {
	case specs.OpEqualTo:
		b.JumpIf(bpf.BPF_JEQ, v, pass, fail)
	case specs.OpNotEqual:
		b.JumpIf(bpf.BPF_JEQ, v, fail, pass)
	case specs.OpGreaterThan:
		b.JumpIf(bpf.BPF_JGT, v, pass, fail)
	case specs.OpGreaterEqual:
		b.JumpIf(bpf.BPF_JGE, v, pass, fail)
	case specs.OpLessThan:
		b.JumpIf(bpf.BPF_JGE, v, fail, pass)
	case specs.OpLessEqual:
		b.JumpIf(bpf.BPF_JGT, v, fail, pass)
	case specs.OpMaskedEqual:
		if v != math.MaxUint32 {
			b.Stmt(bpf.BPF_ALU|bpf.BPF_AND|bpf.BPF_K, v)
		}
		b.JumpIf(bpf.BPF_JEQ, two, pass, fail)
	default:
		panic(fmt.Sprintf("seccomp: operator %q passed Validate", op))
	}
}
