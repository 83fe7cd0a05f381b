package static

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// Options tune Analyze.
type Options struct {
	// Rootfs is the root filesystem a dynamic binary runs in (an image's
	// root): its interpreter and shared libraries are looked up there.
	// Without it a dynamic binary's libraries are not analysed, which
	// leaves the analysis incomplete.
	Rootfs string
	// MaxDepth bounds how many callers up a syscall number that arrives
	// as an argument is followed (default 8).
	MaxDepth int
}

// Kind is what sort of program a binary is.
type Kind string

const (
	KindGo      Kind = "go"             // a Go binary (static or not: its own code is analysed)
	KindStatic  Kind = "static"         // statically linked, not Go
	KindDynamic Kind = "dynamic"        // has an interpreter and shared libraries
	KindLibrary Kind = "shared-library" // a shared object given directly
)

// Site is a place whose syscall number the analysis could not recover.
type Site struct {
	Object string // file
	Func   string // function name, or "" when the binary has no name for it
	Addr   uint64
	Why    string
}

func (s Site) String() string {
	fn := s.Func
	if fn == "" {
		fn = "?"
	}
	return fmt.Sprintf("%s: %s at %#x: %s", filepath.Base(s.Object), fn, s.Addr, s.Why)
}

// Result is what Analyze found.
type Result struct {
	Path     string
	Kind     Kind
	Objects  []string            // the files analysed: the binary, then its interpreter and libraries
	Syscalls map[string][]string // x86_64 syscall name -> where it comes from
	// Unresolved lists the sites whose number is not known. Any of them
	// makes the set incomplete.
	Unresolved []Site
	// Notes are facts about how complete the analysis is (libraries
	// analysed whole, numbers that are no syscall, ...).
	Notes     []string
	Functions int
	Elapsed   time.Duration
}

// Complete reports whether every syscall site was resolved.
func (r *Result) Complete() bool { return len(r.Unresolved) == 0 }

// Names returns the syscall names found, sorted.
func (r *Result) Names() []string {
	out := make([]string, 0, len(r.Syscalls))
	for n := range r.Syscalls {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Always lists the syscalls every program needs that no code in it makes,
// each with the reason; Profile adds them.
var Always = []struct{ Name, Why string }{
	{"execve", "tirith: the container init's execve of the payload, made after the filter is installed"},
	{"restart_syscall", "kernel: resumes a syscall interrupted by a stop signal"},
	{"clock_gettime", "vDSO: its fallback when the clock source cannot be read from user space"},
	{"gettimeofday", "vDSO: its fallback when the clock source cannot be read from user space"},
	{"time", "vDSO: its fallback when the clock source cannot be read from user space"},
	{"getcpu", "vDSO: its fallback"},
}

// Analyze finds the syscalls the x86_64 ELF binary at path can make.
// The binary may come from an untrusted image: a malformed file is an
// error, never a crash (debug/elf and debug/gosym can panic on some).
func Analyze(path string, opt Options) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("analyse %s: malformed binary: %v", path, p)
		}
	}()
	start := time.Now()
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 8
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("analyse %s: %w", path, err)
	}
	defer f.Close()
	main, err := loadObject(path, "", f)
	if err != nil {
		return nil, err
	}
	a := &analysis{res: &Result{Path: path, Syscalls: map[string][]string{}}, depth: opt.MaxDepth}
	a.objs = []*object{main}
	a.res.Objects = []string{path}
	interp, needed := dynInfo(f)
	switch {
	case main.goBin:
		a.res.Kind = KindGo
	case f.Type == elf.ET_DYN && interp == "":
		a.res.Kind = KindLibrary
	case interp != "" || len(needed) > 0:
		a.res.Kind = KindDynamic
	default:
		a.res.Kind = KindStatic
	}
	if (interp != "" || len(needed) > 0) && a.res.Kind != KindLibrary {
		if err := a.loadLibraries(f, interp, opt.Rootfs); err != nil {
			return nil, err
		}
	}
	a.run()
	slices.SortFunc(a.res.Unresolved, func(x, y Site) int {
		if c := strings.Compare(x.Object, y.Object); c != 0 {
			return c
		}
		return cmpU64(x.Addr, y.Addr)
	})
	for _, o := range a.objs {
		a.res.Functions += len(o.funcs)
	}
	a.res.Elapsed = time.Since(start)
	return a.res, nil
}

type analysis struct {
	res   *Result
	objs  []*object
	depth int
	// per object: callers[target] = functions with a direct call to target
	callers []map[uint64][]int
	// per object: pltCallers[name] = functions that call name's PLT stub
	pltCallers []map[string][]int
	names      map[uint32]string
	seen       map[carrierKey]bool
}

type carrierKey struct {
	obj, fn int
	p       param
}

// carrier is a function whose syscall number is its parameter p; chain
// lists the functions from it down to the SYSCALL, for origins.
type carrier struct {
	carrierKey
	depth int
	chain []string
}

func (a *analysis) run() {
	a.names = map[uint32]string{}
	for _, n := range seccomp.SyscallNames(specs.ArchX86_64) {
		nr, _ := seccomp.SyscallNumber(specs.ArchX86_64, n)
		if old, ok := a.names[nr]; !ok || n < old {
			a.names[nr] = n
		}
	}
	a.seen = map[carrierKey]bool{}
	var work []carrier
	type pending struct {
		obj, fn int
		addr    uint64
		v       value
	}
	var globals []pending
	a.callers = make([]map[uint64][]int, len(a.objs))
	a.pltCallers = make([]map[string][]int, len(a.objs))
	for oi, o := range a.objs {
		callers := map[uint64][]int{}
		plt := map[string][]int{}
		o.refs = map[uint64]bool{}
		for fi, f := range o.funcs {
			ins := decodeAll(o.bytes(f.lo, f.hi), f.lo)
			for _, x := range ins {
				globalRefs(x, o.refs)
			}
			flow(ins, f.lo, f.hi, o.convOf(f), o.noret, nil, func(ev event) {
				if !ev.syscall {
					if l := callers[ev.target]; len(l) == 0 || l[len(l)-1] != fi {
						callers[ev.target] = append(l, fi)
					}
					if name, ok := o.plt[ev.target]; ok {
						if l := plt[name]; len(l) == 0 || l[len(l)-1] != fi {
							plt[name] = append(l, fi)
						}
					}
					return
				}
				switch ev.nr.k {
				case vGlobal:
					globals = append(globals, pending{oi, fi, ev.addr, ev.nr})
				case vConst:
					a.found(oi, ev.nr.n, []string{f.name}, ev.addr)
				case vParamReg, vParamStack:
					p, _ := ev.nr.param()
					work = append(work, carrier{carrierKey{oi, fi, p}, 0, []string{f.name}})
				default:
					a.unresolved(oi, fi, ev.addr, "the number is computed or loaded from memory")
				}
			})
		}
		a.callers[oi] = callers
		a.pltCallers[oi] = plt
	}
	for _, g := range globals {
		f := a.objs[g.obj].funcs[g.fn]
		if v := a.global(g.obj, g.v, f.name); v.k == vConst {
			a.found(g.obj, v.n, []string{f.name}, g.addr)
		} else {
			a.unresolved(g.obj, g.fn, g.addr, "the number is loaded from a variable the program may change")
		}
	}
	for len(work) > 0 {
		c := work[0]
		work = work[1:]
		if a.seen[c.carrierKey] {
			continue
		}
		a.seen[c.carrierKey] = true
		work = append(work, a.resolve(c)...)
	}
	a.bridgeAllThreads()
}

// resolve evaluates a carrier's parameter at each of its call sites.
func (a *analysis) resolve(c carrier) []carrier {
	o := a.objs[c.obj]
	f := o.funcs[c.fn]
	type site struct{ obj, fn int }
	var sites []site
	for _, fi := range a.callers[c.obj][f.lo] {
		sites = append(sites, site{c.obj, fi})
	}
	// Callers through the PLT, in the other objects.
	if f.name != "" {
		for oi := range a.objs {
			if oi == c.obj || a.objs[oi].plt == nil {
				continue
			}
			for _, fi := range a.pltCallers[oi][f.name] {
				sites = append(sites, site{oi, fi})
			}
		}
	}
	where := regName(c.p)
	if len(sites) == 0 {
		a.unresolved(c.obj, c.fn, f.lo, fmt.Sprintf("the number is an argument (%s) and no direct call of %s was found (called through a pointer, or from outside the binary)", where, nameOr(f.name, "this function")))
		return nil
	}
	var more []carrier
	for _, s := range sites {
		co := a.objs[s.obj]
		cf := co.funcs[s.fn]
		targets := map[uint64]bool{f.lo: s.obj == c.obj}
		if s.obj != c.obj {
			for addr, name := range co.plt {
				if name == f.name {
					targets[addr] = true
				}
			}
		}
		ins := decodeAll(co.bytes(cf.lo, cf.hi), cf.lo)
		chain := append([]string{cf.name}, c.chain...)
		flow(ins, cf.lo, cf.hi, co.convOf(cf), co.noret, func(t uint64) bool { return targets[t] }, func(ev event) {
			if ev.syscall || ev.st == nil {
				return
			}
			v := argAt(ev.st, ev.tail, c.p)
			if v.k == vGlobal {
				if v = a.global(s.obj, v, cf.name); v.k != vConst {
					a.unresolved(s.obj, s.fn, ev.addr, fmt.Sprintf("the number passed to %s is loaded from a variable the program may change", nameOr(f.name, "a syscall wrapper")))
					return
				}
			}
			switch v.k {
			case vConst:
				a.found(s.obj, v.n, chain, ev.addr)
			case vParamReg, vParamStack:
				if c.depth+1 >= a.depth {
					a.unresolved(s.obj, s.fn, ev.addr, fmt.Sprintf("the number is still an argument %d callers up from the syscall", a.depth))
					return
				}
				p, _ := v.param()
				more = append(more, carrier{carrierKey{s.obj, s.fn, p}, c.depth + 1, chain})
			default:
				a.unresolved(s.obj, s.fn, ev.addr, fmt.Sprintf("the number passed to %s is computed or loaded from memory", nameOr(f.name, "a syscall wrapper")))
			}
		})
	}
	return more
}

// bridgeAllThreads handles the Go runtime's one syscall whose number
// comes from memory: syscall.AllThreadsSyscall (used by syscall.Setuid
// and friends) stores the number and has every thread's signal handler,
// runtime.runPerThreadSyscall, make it. The same numbers are made by
// runtime.syscall_runtime_doAllThreadsSyscall on its own thread, which
// takes them as an argument: resolved through its callers, they cover
// runPerThreadSyscall too. Without doAllThreadsSyscall in the binary
// nothing stores a number and runPerThreadSyscall makes no syscall.
func (a *analysis) bridgeAllThreads() {
	kept := a.res.Unresolved[:0]
	for _, s := range a.res.Unresolved {
		if s.Func == "runtime.runPerThreadSyscall" {
			if how, ok := a.allThreadsCovered(s.Object); ok {
				a.res.Notes = append(a.res.Notes, fmt.Sprintf("%s: runtime.runPerThreadSyscall makes the numbers syscall.AllThreadsSyscall stores: %s", filepath.Base(s.Object), how))
				continue
			}
		}
		kept = append(kept, s)
	}
	a.res.Unresolved = kept
}

func (a *analysis) allThreadsCovered(path string) (string, bool) {
	for oi, o := range a.objs {
		if o.path != path || !o.goBin {
			continue
		}
		present := false
		for fi, f := range o.funcs {
			if !strings.HasSuffix(f.name, "doAllThreadsSyscall") {
				continue
			}
			present = true
			carrier := false
			for k := range a.seen {
				if k.obj == oi && k.fn == fi {
					carrier = true
				}
			}
			if !carrier {
				return "", false
			}
		}
		if !present {
			return "the binary has no doAllThreadsSyscall, so none is ever stored", true
		}
		return "the same numbers doAllThreadsSyscall makes, resolved through its callers", true
	}
	return "", false
}

// global turns a value loaded from a global variable into its initial
// value: a read-only variable's always, a writable one's when no code
// writes it or takes its address (noted, since a write through a pointer
// stored in data would not be seen).
func (a *analysis) global(obj int, v value, fn string) value {
	o := a.objs[obj]
	n, ro, ok := o.global(uint64(v.n), 4)
	if !ok {
		return unknown
	}
	if !ro {
		a.res.Notes = append(a.res.Notes, fmt.Sprintf("%s: %s: the number is the variable at %#x, which no code writes or takes the address of: its initial value %d", nameOr(o.name, filepath.Base(o.path)), nameOr(fn, "?"), v.n, n))
	}
	return konst(n)
}

func (a *analysis) found(obj int, nr int64, chain []string, addr uint64) {
	o := a.objs[obj]
	name, ok := a.names[uint32(nr)]
	if !ok || nr < 0 || nr > 0xffffffff {
		a.res.Notes = append(a.res.Notes, fmt.Sprintf("%s: %s makes syscall number %d, which is no x86_64 syscall (a probe for an unknown or foreign syscall; the filter refuses it)", nameOr(o.name, filepath.Base(o.path)), originOf("", chain), nr))
		return
	}
	origin := originOf(o.name, chain)
	if l := a.res.Syscalls[name]; !slices.Contains(l, origin) {
		a.res.Syscalls[name] = append(l, origin)
	}
}

func (a *analysis) unresolved(obj, fi int, addr uint64, why string) {
	o := a.objs[obj]
	a.res.Unresolved = append(a.res.Unresolved, Site{Object: o.path, Func: o.funcs[fi].name, Addr: addr, Why: why})
}

// originOf renders a call chain, outermost first: "main.main →
// syscall.Syscall → … → internal/runtime/syscall/linux.Syscall6".
func originOf(obj string, chain []string) string {
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = nameOr(c, "?")
	}
	if len(names) > 4 {
		names = append(names[:2:2], "…", names[len(names)-1])
	}
	s := strings.Join(names, " → ")
	if obj != "" {
		s = obj + ": " + s
	}
	return s
}

func nameOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

var regNames = []string{"AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}

func regName(p param) string {
	if p.stack {
		return fmt.Sprintf("stack slot +%d", p.n)
	}
	return "register " + regNames[p.n]
}
