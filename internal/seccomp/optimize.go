package seccomp

import (
	"math"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cond is one argument comparison, with values already truncated to 32
// bits on 32-bit architectures.
type cond struct {
	index uint
	op    specs.LinuxSeccompOperator
	value uint64 // the mask for MASKED_EQ
	two   uint64 // the datum for MASKED_EQ
}

// rule is one OCI rule for one syscall: all conds must hold (AND).
type rule struct {
	conds []cond
	ret   uint32
}

// leaf is what a syscall number (or a range of them) is answered with: a
// constant return value if rules is empty, else the rules tried in order
// (the first whose conds all hold wins) and then fallback.
type leaf struct {
	rules    []rule
	fallback uint32
	name     string // for disassembly comments; "" for ranges
}

func (l *leaf) constant() bool { return len(l.rules) == 0 }

// condTruth reports whether c holds for every value (always), for no value
// (never), or depends on the argument. width is 32 or 64 bits.
func condTruth(c cond, width int) (always, never bool) {
	maxV := uint64(math.MaxUint64)
	if width == 32 {
		maxV = math.MaxUint32
	}
	switch c.op {
	case specs.OpLessThan:
		return c.value > maxV, c.value == 0
	case specs.OpLessEqual:
		return c.value >= maxV, false
	case specs.OpGreaterThan:
		return false, c.value >= maxV
	case specs.OpGreaterEqual:
		return c.value == 0, c.value > maxV
	case specs.OpEqualTo:
		return false, c.value > maxV
	case specs.OpNotEqual:
		return c.value > maxV, false
	case specs.OpMaskedEqual:
		mask := c.value & maxV
		// Bits of the datum outside the mask can never be matched.
		return mask == 0 && c.two == 0, c.two&^mask != 0
	}
	return false, false
}

// simplify rewrites the rules of one syscall into an equivalent, smaller
// leaf. The passes run in this order because each relies on the previous:
//
//  1. drop conditions that always hold, and rules with a condition that
//     never holds (so "unconditional" below sees through trivial ones);
//  2. cut the rules after the first unconditional one, which shadows them,
//     and make its action the fallback;
//  3. drop trailing rules whose action equals the fallback: matching them
//     or not gives the same answer.
//
// A syscall left with no rules does not depend on its arguments and is
// decided by its number alone, which keeps the kernel's seccomp action
// cache (Linux 5.11) able to skip the filter for it.
func simplify(rules []rule, fallback uint32, width int) leaf {
	var out []rule
	for _, r := range rules {
		var conds []cond
		dead := false
		for _, c := range r.conds {
			always, never := condTruth(c, width)
			if never {
				dead = true
				break
			}
			if !always && !slices.Contains(conds, c) {
				conds = append(conds, c)
			}
		}
		if dead {
			continue
		}
		if len(conds) == 0 {
			fallback = r.ret
			break
		}
		out = append(out, rule{conds: conds, ret: r.ret})
	}
	for len(out) > 0 && out[len(out)-1].ret == fallback {
		out = out[:len(out)-1]
	}
	return leaf{rules: out, fallback: fallback}
}

// segment is a range of syscall numbers, from start up to the next
// segment's start, answered by one leaf.
type segment struct {
	start uint32
	leaf  *leaf
}

// segments partitions the 32-bit syscall number space: base gives the
// leaf for numbers without a rule (ranges sorted by start, the first at 0),
// and entries the leaf of each number with rules. Neighbouring ranges with
// the same constant answer are merged, so an allowlist's runs of allowed
// numbers cost one tree node each rather than one per syscall.
func segments(base []segment, entries map[uint32]*leaf) []segment {
	// Every segment boundary, sorted and deduplicated (a slice: a map
	// of them cost more than the rest of the compile).
	starts := make([]uint32, 0, len(base)+2*len(entries))
	for _, b := range base {
		starts = append(starts, b.start)
	}
	for nr := range entries {
		starts = append(starts, nr)
		if nr != math.MaxUint32 {
			starts = append(starts, nr+1)
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	out := make([]segment, 0, len(starts))
	bi := 0
	for _, s := range starts {
		for bi+1 < len(base) && base[bi+1].start <= s {
			bi++
		}
		l := base[bi].leaf
		if e, ok := entries[s]; ok {
			l = e
		}
		if n := len(out); n > 0 && l.constant() && out[n-1].leaf.constant() && out[n-1].leaf.fallback == l.fallback {
			continue
		}
		out = append(out, segment{start: s, leaf: l})
	}
	return out
}
