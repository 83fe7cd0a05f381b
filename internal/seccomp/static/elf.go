package static

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// object is one ELF file under analysis: its executable code cut into
// functions.
type object struct {
	path  string
	name  string // for origins: "" for the main binary, else the file's base name
	goBin bool
	funcs []fn
	conv  conv
	plt   map[uint64]string // PLT stub address -> imported function
	noret map[uint64]bool   // entries of functions that never return
	code  []region
	data  []dataSec
	refs  map[uint64]bool // globals written or address-taken somewhere (globalRefs)
}

type dataSec struct {
	region
	writable bool
}

// global reads a global variable's initial value. ok is false when the
// value may have changed since: the variable is writable and some code
// writes it or takes its address.
func (o *object) global(addr uint64, size int) (v int64, readOnly, ok bool) {
	for _, d := range o.data {
		if addr < d.addr || addr+uint64(size) > d.addr+uint64(len(d.data)) {
			continue
		}
		if d.writable && o.refs[addr] {
			return 0, false, false
		}
		b := d.data[addr-d.addr:]
		if size == 8 {
			return int64(binary.LittleEndian.Uint64(b)), !d.writable, true
		}
		return int64(binary.LittleEndian.Uint32(b)), !d.writable, true
	}
	return 0, false, false
}

type region struct {
	addr uint64
	data []byte
}

type fn struct {
	name   string
	lo, hi uint64
	c      bool // C code in a Go binary (cgo): the System V convention
}

func (o *object) convOf(f fn) conv {
	if f.c {
		return sysvConv
	}
	return o.conv
}

func (o *object) bytes(lo, hi uint64) []byte {
	for _, r := range o.code {
		if lo >= r.addr && hi <= r.addr+uint64(len(r.data)) {
			return r.data[lo-r.addr : hi-r.addr]
		}
	}
	return nil
}

// funcAt returns the index of the function whose entry is addr.
func (o *object) funcAt(addr uint64) (int, bool) {
	i, ok := slices.BinarySearchFunc(o.funcs, addr, func(f fn, a uint64) int {
		switch {
		case f.lo < a:
			return -1
		case f.lo > a:
			return 1
		}
		return 0
	})
	return i, ok
}

// loadObject reads f's code and finds its functions: from Go's pclntab
// (kept by stripped Go binaries), else from the symbol tables, else (a
// stripped C binary) from the entry point and every direct call target.
// Code no function covers becomes anonymous functions, so that no
// SYSCALL instruction is skipped.
func loadObject(path, name string, f *elf.File) (*object, error) {
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%s: %s %s: only x86_64 ELF binaries are analysed", path, f.Class, f.Machine)
	}
	o := &object{path: path, name: name, conv: sysvConv}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 || s.Size == 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: section %s: %w", path, s.Name, err)
		}
		o.code = append(o.code, region{s.Addr, data})
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_EXECINSTR != 0 || s.Size == 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: section %s: %w", path, s.Name, err)
		}
		o.data = append(o.data, dataSec{region{s.Addr, data}, s.Flags&elf.SHF_WRITE != 0})
	}
	if len(o.code) == 0 {
		return nil, fmt.Errorf("%s: no executable sections", path)
	}
	slices.SortFunc(o.code, func(a, b region) int { return cmpU64(a.addr, b.addr) })

	type entry struct {
		name string
		size uint64
		c    bool
	}
	entries := map[uint64]entry{}
	cCode := false // symbols added now are C code
	add := func(addr, size uint64, name string) {
		if o.bytes(addr, addr) == nil && o.bytes(addr, addr+1) == nil {
			return // not in the code
		}
		if e, ok := entries[addr]; ok && (e.name != "" || name == "") {
			if size > e.size {
				e.size = size
				entries[addr] = e
			}
			return
		}
		entries[addr] = entry{name, size, cCode}
	}

	if s := f.Section(".gopclntab"); s != nil {
		if err := goFuncs(f, s, add); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		o.goBin = true
		o.conv = goConv
		cCode = true // what follows is cgo's C code
	}
	{
		for _, get := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
			syms, err := get()
			if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
				return nil, fmt.Errorf("%s: symbols: %w", path, err)
			}
			for _, sym := range syms {
				if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 {
					add(sym.Value, sym.Size, sym.Name)
				}
			}
		}
		if f.Entry != 0 {
			add(f.Entry, 0, "")
		}
		// Direct call targets are function entries; in a stripped binary
		// they are the only ones there are. (Go's are all in the pclntab.)
		for _, r := range o.code {
			if o.goBin {
				break
			}
			for _, x := range decodeAll(r.data, r.addr) {
				if x.in.Op == x86asm.CALL {
					if t, ok := x.target(); ok {
						add(t, 0, "")
					}
				}
			}
		}
		o.plt = pltStubs(f, o)
	}

	addrs := make([]uint64, 0, len(entries))
	for a := range entries {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for i, a := range addrs {
		e := entries[a]
		hi := regionEnd(o.code, a)
		if i+1 < len(addrs) && addrs[i+1] < hi {
			hi = addrs[i+1]
		}
		if e.size > 0 && a+e.size < hi {
			hi = a + e.size
		}
		o.funcs = append(o.funcs, fn{name: e.name, lo: a, hi: hi, c: e.c})
	}
	// Fill the gaps.
	var gaps []fn
	for _, r := range o.code {
		at := r.addr
		end := r.addr + uint64(len(r.data))
		for _, g := range o.funcs {
			if g.hi <= at || g.lo >= end {
				continue
			}
			if g.lo > at {
				gaps = append(gaps, fn{lo: at, hi: g.lo, c: true})
			}
			at = max(at, g.hi)
		}
		if at < end {
			gaps = append(gaps, fn{lo: at, hi: end, c: true})
		}
	}
	o.funcs = append(o.funcs, gaps...)
	slices.SortFunc(o.funcs, func(a, b fn) int { return cmpU64(a.lo, b.lo) })
	o.noret = noReturn(o)
	return o, nil
}

// noReturn finds the functions that never return (panics, abort, exit):
// the greatest set of named functions none of which can return given the
// others do not. Only functions of up to maxNoret instructions are
// candidates; such wrappers are small, and larger ones are taken to
// return, which only costs precision.
func noReturn(o *object) map[uint64]bool {
	const maxNoret = 256
	code := map[uint64][]insn{}
	noret := map[uint64]bool{}
	for _, g := range o.funcs {
		if g.name == "" || g.hi-g.lo > maxNoret*15 {
			continue
		}
		ins := decodeAll(o.bytes(g.lo, g.hi), g.lo)
		if len(ins) <= maxNoret {
			code[g.lo] = ins
			noret[g.lo] = true
		}
	}
	his := map[uint64]uint64{}
	for _, g := range o.funcs {
		his[g.lo] = g.hi
	}
	for changed := true; changed; {
		changed = false
		for f := range noret {
			if canReturn(code[f], f, his[f], noret) {
				delete(noret, f)
				changed = true
			}
		}
	}
	return noret
}

func regionEnd(rs []region, a uint64) uint64 {
	for _, r := range rs {
		if a >= r.addr && a < r.addr+uint64(len(r.data)) {
			return r.addr + uint64(len(r.data))
		}
	}
	return a
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// goFuncs reads the functions of a Go binary from its pclntab.
func goFuncs(f *elf.File, pcln *elf.Section, add func(addr, size uint64, name string)) error {
	text := f.Section(".text")
	if text == nil {
		return errors.New("Go binary without a .text section")
	}
	data, err := pcln.Data()
	if err != nil {
		return fmt.Errorf("read .gopclntab: %w", err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, goText(f, data, text.Addr)))
	if err != nil {
		return fmt.Errorf("parse .gopclntab: %w", err)
	}
	if len(tab.Funcs) == 0 {
		return errors.New(".gopclntab lists no functions")
	}
	for _, fn := range tab.Funcs {
		if fn.End > fn.Entry {
			add(fn.Entry, fn.End-fn.Entry, fn.Name)
		}
	}
	return nil
}

// goText returns the address of runtime.text, where the pclntab's
// function offsets start: the symbol if the binary has one, else the
// pclntab header's textStart (Go 1.18+), else the start of .text (with
// cgo, C code may come first).
func goText(f *elf.File, pcln []byte, text uint64) uint64 {
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				return s.Value
			}
		}
	}
	// pcHeader: magic uint32, two pad bytes, minLC, ptrSize, nfunc,
	// nfiles, textStart.
	if len(pcln) >= 32 && pcln[7] == 8 {
		if ts := f.ByteOrder.Uint64(pcln[24:]); ts != 0 {
			return ts
		}
	}
	return text
}

// pltStubs maps each PLT stub of a dynamically linked object to the
// function it imports: the stub jumps through a GOT slot that a
// JUMP_SLOT relocation names.
func pltStubs(f *elf.File, o *object) map[uint64]string {
	slots := map[uint64]string{}
	syms, _ := f.DynamicSymbols()
	for _, name := range []string{".rela.plt", ".rela.dyn"} {
		s := f.Section(name)
		if s == nil {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(data); i += 24 {
			off := f.ByteOrder.Uint64(data[i:])
			info := f.ByteOrder.Uint64(data[i+8:])
			typ, sym := elf.R_X86_64(info&0xffffffff), info>>32
			if (typ == elf.R_X86_64_JMP_SLOT || typ == elf.R_X86_64_GLOB_DAT) && sym >= 1 && int(sym) <= len(syms) {
				slots[off] = syms[sym-1].Name
			}
		}
	}
	if len(slots) == 0 {
		return nil
	}
	stubs := map[uint64]string{}
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, ".plt") {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for _, x := range decodeAll(data, s.Addr) {
			if x.bad || x.in.Op != x86asm.JMP {
				continue
			}
			m, ok := x.in.Args[0].(x86asm.Mem)
			if !ok || m.Base != x86asm.RIP {
				continue
			}
			slot := uint64(int64(x.addr) + int64(x.in.Len) + m.Disp)
			if name, ok := slots[slot]; ok {
				// The stub starts at the jump, or at the ENDBR64 before it.
				stubs[x.addr] = name
				stubs[x.addr-4] = name
			}
		}
	}
	return stubs
}
