package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Profile is a seccomp profile as written: Docker's JSON format (moby's
// profiles/seccomp), of which the OCI linux.seccomp object is a subset.
// Resolve turns it into the OCI form for one container.
type Profile struct {
	DefaultAction    specs.LinuxSeccompAction
	DefaultErrnoRet  *uint
	Architectures    []specs.Arch
	ArchMap          []ArchMapEntry
	Flags            []specs.LinuxSeccompFlag
	ListenerPath     string
	ListenerMetadata string
	Syscalls         []Syscall
}

// ArchMapEntry selects the architectures of a filter by native
// architecture: a profile for many machines lists each native architecture
// with the compat ones its kernel also runs.
type ArchMapEntry struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

// Syscall is one rule of a Docker profile: the OCI rule plus conditions on
// the container (capabilities, architecture, kernel) deciding whether it
// applies. Name, if set in the JSON, has been merged into Names.
type Syscall struct {
	specs.LinuxSyscall
	Comment  string
	Includes Filter // the rule applies only if all of these hold
	Excludes Filter // the rule is dropped if any of these holds
}

// Filter is a Docker profile's includes/excludes condition.
type Filter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"` // GOARCH names, plus "x32"
	MinKernel string   `json:"minKernel,omitempty"`
}

// rawProfile and rawSyscall are the JSON shapes.
type rawProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet"`
	Architectures    []specs.Arch             `json:"architectures"`
	ArchMap          []ArchMapEntry           `json:"archMap"`
	Flags            []specs.LinuxSeccompFlag `json:"flags"`
	ListenerPath     string                   `json:"listenerPath"`
	ListenerMetadata string                   `json:"listenerMetadata"`
	Syscalls         []rawSyscall             `json:"syscalls"`
}

type rawSyscall struct {
	Name     string                   `json:"name"`
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Comment  string                   `json:"comment"`
	Includes *Filter                  `json:"includes"`
	Excludes *Filter                  `json:"excludes"`
}

// schema lists the JSON fields ParseProfile accepts, so that a misspelt
// field ("defualtAction") is an error instead of a silently weaker filter.
type schema struct {
	fields map[string]*schema // object fields; nil for a scalar
	open   bool               // object whose other fields are not checked
	elem   *schema            // array element
}

var (
	scalar       = &schema{}
	filterSchema = &schema{fields: map[string]*schema{
		"caps": {elem: scalar}, "arches": {elem: scalar}, "minKernel": scalar,
	}}
	argSchema = &schema{fields: map[string]*schema{
		"index": scalar, "value": scalar, "valueTwo": scalar, "op": scalar,
	}}
	syscallSchema = &schema{fields: map[string]*schema{
		"name": scalar, "names": {elem: scalar}, "action": scalar, "errnoRet": scalar,
		"args": {elem: argSchema}, "comment": scalar,
		// errno is containers/common's errno name next to errnoRet.
		"errno":    scalar,
		"includes": filterSchema, "excludes": filterSchema,
	}}
	profileSchema = &schema{fields: map[string]*schema{
		"defaultAction": scalar, "defaultErrnoRet": scalar,
		// defaultErrno is containers/common's errno name next to
		// defaultErrnoRet; the number is what counts, the name is ignored.
		"defaultErrno":  scalar,
		"architectures": {elem: scalar},
		"archMap": {elem: &schema{fields: map[string]*schema{
			"architecture": scalar, "subArchitectures": {elem: scalar},
		}}},
		"flags": {elem: scalar}, "listenerPath": scalar, "listenerMetadata": scalar,
		"syscalls": {elem: syscallSchema}, "comment": scalar,
	}}
	// configSchema is a whole OCI config.json: only linux.seccomp is checked.
	configSchema = &schema{open: true, fields: map[string]*schema{
		"linux": {open: true, fields: map[string]*schema{"seccomp": profileSchema}},
	}}
)

// ParseProfile parses a seccomp profile in Docker's format, the OCI
// linux.seccomp format, or a whole OCI config.json (whose linux.seccomp is
// used). Errors name the line and column of malformed JSON, or the field
// path of a bad value, e.g.
//
//	syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"
func ParseProfile(data []byte) (*Profile, error) {
	top := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(data, err)
	}
	sch, prefix := profileSchema, ""
	_, hasDefault := top["defaultAction"]
	if _, ok := top["linux"]; ok && !hasDefault {
		sch, prefix = configSchema, "linux.seccomp."
	}
	if err := checkFields(data, sch); err != nil {
		return nil, err
	}
	var raw rawProfile
	if prefix != "" {
		var cfg struct {
			Linux struct {
				Seccomp *rawProfile `json:"seccomp"`
			} `json:"linux"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, jsonError(data, err)
		}
		if cfg.Linux.Seccomp == nil {
			return nil, errors.New("linux.seccomp: missing (the config has no seccomp profile)")
		}
		raw = *cfg.Linux.Seccomp
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, jsonError(data, err)
	}

	p := &Profile{
		DefaultAction:    raw.DefaultAction,
		DefaultErrnoRet:  raw.DefaultErrnoRet,
		Architectures:    raw.Architectures,
		ArchMap:          raw.ArchMap,
		Flags:            raw.Flags,
		ListenerPath:     raw.ListenerPath,
		ListenerMetadata: raw.ListenerMetadata,
	}
	for i, rs := range raw.Syscalls {
		field := fmt.Sprintf("%ssyscalls[%d]", prefix, i)
		s := Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: rs.Names, Action: rs.Action, ErrnoRet: rs.ErrnoRet, Args: rs.Args},
			Comment:      rs.Comment,
		}
		if rs.Name != "" {
			if len(rs.Names) != 0 {
				return nil, fmt.Errorf("%s: both name and names are set; use one", field)
			}
			s.Names = []string{rs.Name}
		}
		for _, f := range []struct {
			in   *Filter
			out  *Filter
			name string
		}{{rs.Includes, &s.Includes, "includes"}, {rs.Excludes, &s.Excludes, "excludes"}} {
			if f.in == nil {
				continue
			}
			if err := validateFilter(f.in, field+"."+f.name); err != nil {
				return nil, err
			}
			*f.out = *f.in
		}
		p.Syscalls = append(p.Syscalls, s)
	}
	for i, a := range p.ArchMap {
		field := fmt.Sprintf("%sarchMap[%d]", prefix, i)
		if !slices.Contains(knownArches, a.Arch) {
			return nil, fmt.Errorf("%s.architecture: unknown architecture %q", field, a.Arch)
		}
		for j, s := range a.SubArches {
			if !slices.Contains(knownArches, s) {
				return nil, fmt.Errorf("%s.subArchitectures[%d]: unknown architecture %q", field, j, s)
			}
		}
	}
	// Everything else is the OCI form's business: validate it once.
	if err := validate(p.oci(p.Architectures, func(Syscall) bool { return true }), prefix); err != nil {
		return nil, err
	}
	return p, nil
}

func validateFilter(f *Filter, field string) error {
	for i, c := range f.Caps {
		if !strings.HasPrefix(c, "CAP_") || len(c) == len("CAP_") {
			return fmt.Errorf("%s.caps[%d]: %q is not a capability name (CAP_...)", field, i, c)
		}
	}
	for i, a := range f.Arches {
		if a == "" {
			return fmt.Errorf("%s.arches[%d]: empty architecture", field, i)
		}
	}
	if f.MinKernel != "" {
		if _, _, ok := parseKernel(f.MinKernel); !ok {
			return fmt.Errorf("%s.minKernel: %q is not a kernel version (want MAJOR.MINOR)", field, f.MinKernel)
		}
	}
	return nil
}

// Resolve returns the OCI profile for a container with capabilities caps
// (names such as "CAP_SYS_ADMIN", as in the bounding set), running on
// goarch (a GOARCH; Docker's arches conditions use these names) and kernel
// (a release such as "6.8.0-45-generic"). It applies includes/excludes as
// moby does. An empty or unparsable kernel satisfies no minKernel
// condition: a rule that needs a new kernel is left out, and a rule
// excluded on new kernels is kept, the conservative reading of both.
func (p *Profile) Resolve(caps []string, goarch string, kernel string) *specs.LinuxSeccomp {
	arches := p.Architectures
	if len(p.ArchMap) > 0 {
		arches = nil
		if native, err := NativeArch(goarch); err == nil {
			for _, a := range p.ArchMap {
				if a.Arch == native {
					arches = append([]specs.Arch{a.Arch}, a.SubArches...)
					break
				}
			}
		}
	}
	kmaj, kmin, kok := parseKernel(kernel)
	atLeast := func(min string) bool {
		maj, mn, ok := parseKernel(min)
		return ok && kok && (kmaj > maj || kmaj == maj && kmin >= mn)
	}
	applies := func(s Syscall) bool {
		ex := s.Excludes
		if slices.Contains(ex.Arches, goarch) {
			return false
		}
		for _, c := range ex.Caps {
			if slices.Contains(caps, c) {
				return false
			}
		}
		if ex.MinKernel != "" && atLeast(ex.MinKernel) {
			return false
		}
		in := s.Includes
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, goarch) {
			return false
		}
		for _, c := range in.Caps {
			if !slices.Contains(caps, c) {
				return false
			}
		}
		if in.MinKernel != "" && !atLeast(in.MinKernel) {
			return false
		}
		return true
	}
	return p.oci(arches, applies)
}

func (p *Profile) oci(arches []specs.Arch, applies func(Syscall) bool) *specs.LinuxSeccomp {
	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  p.DefaultErrnoRet,
		Architectures:    slices.Clone(arches),
		Flags:            slices.Clone(p.Flags),
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	for _, s := range p.Syscalls {
		if applies(s) {
			out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{
				Names:    slices.Clone(s.Names),
				Action:   s.Action,
				ErrnoRet: s.ErrnoRet,
				Args:     slices.Clone(s.Args),
			})
		}
	}
	return out
}

// parseKernel reads "MAJOR.MINOR" from the start of a kernel release.
func parseKernel(s string) (major, minor int, ok bool) {
	majS, rest, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	maj, err1 := strconv.Atoi(majS)
	mn, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil || maj < 0 || mn < 0 {
		return 0, 0, false
	}
	return maj, mn, true
}

// Validate checks an OCI seccomp profile: known actions, operators,
// architectures and flags, argument indexes 0-5, errno values, and that
// every rule names at least one syscall. Errors name the field, e.g.
// "syscalls[2].args[1].index: 6 out of range (0-5)". Unknown syscall names
// are not errors: like libseccomp, the compiler ignores them, because a
// profile written for many kernels and architectures names syscalls that
// some of them lack.
func Validate(s *specs.LinuxSeccomp) error {
	if s == nil {
		return errors.New("no seccomp profile")
	}
	return validate(s, "")
}

func validate(s *specs.LinuxSeccomp, prefix string) error {
	if s.DefaultAction == "" {
		return fmt.Errorf("%sdefaultAction: missing", prefix)
	}
	if _, err := actionValue(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		field := "defaultAction"
		if knownActions[s.DefaultAction] {
			field = "defaultErrnoRet"
		}
		return fmt.Errorf("%s%s: %w", prefix, field, err)
	}
	// A default notify would stop the runtime's own last syscalls (execve)
	// until an agent that may not exist yet answers; runc refuses it too.
	if s.DefaultAction == specs.ActNotify {
		return fmt.Errorf("%sdefaultAction: %s cannot be the default action", prefix, specs.ActNotify)
	}
	for i, a := range s.Architectures {
		if !slices.Contains(knownArches, a) {
			return fmt.Errorf("%sarchitectures[%d]: unknown architecture %q", prefix, i, a)
		}
	}
	for i, f := range s.Flags {
		if _, ok := knownFlags[f]; !ok {
			return fmt.Errorf("%sflags[%d]: unknown flag %q", prefix, i, f)
		}
	}
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("%ssyscalls[%d]", prefix, i)
		if len(sc.Names) == 0 {
			return fmt.Errorf("%s.names: no syscall named", field)
		}
		for j, n := range sc.Names {
			if n == "" {
				return fmt.Errorf("%s.names[%d]: empty syscall name", field, j)
			}
		}
		if sc.Action == "" {
			return fmt.Errorf("%s.action: missing", field)
		}
		if _, err := actionValue(sc.Action, sc.ErrnoRet); err != nil {
			sub := "action"
			if knownActions[sc.Action] {
				sub = "errnoRet"
			}
			return fmt.Errorf("%s.%s: %w", field, sub, err)
		}
		for j, a := range sc.Args {
			afield := fmt.Sprintf("%s.args[%d]", field, j)
			if a.Index > 5 {
				return fmt.Errorf("%s.index: %d out of range (0-5)", afield, a.Index)
			}
			if a.Op == "" {
				return fmt.Errorf("%s.op: missing", afield)
			}
			if !knownOps[a.Op] {
				return fmt.Errorf("%s.op: unknown operator %q", afield, a.Op)
			}
		}
	}
	return nil
}

// checkFields walks data and rejects fields sch does not know, and
// duplicate fields (encoding/json would silently keep the last one).
func checkFields(data []byte, sch *schema) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(s *schema, path string) error
	walk = func(s *schema, path string) error {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(data, err)
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jsonError(data, err)
				}
				key := kt.(string)
				end := int(dec.InputOffset())
				fpath := key
				if path != "" {
					fpath = path + "." + key
				}
				var child *schema
				if s != nil && s.fields != nil {
					c, ok := s.fields[key]
					if !ok && !s.open {
						return fmt.Errorf("%s: %s: unknown field", position(data, keyStart(data, end)), fpath)
					}
					child = c
				}
				if s != nil && !s.open && seen[key] {
					return fmt.Errorf("%s: %s: duplicate field", position(data, keyStart(data, end)), fpath)
				}
				seen[key] = true
				if err := walk(child, fpath); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return jsonError(data, err)
			}
		case json.Delim('['):
			var elem *schema
			if s != nil {
				elem = s.elem
			}
			for i := 0; dec.More(); i++ {
				if err := walk(elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return jsonError(data, err)
			}
		}
		return nil
	}
	return walk(sch, "")
}

// keyStart finds the opening quote of the object key that ends at end.
func keyStart(data []byte, end int) int {
	i := end - 1
	for i > 0 && data[i] != '"' { // closing quote (end may sit past spaces)
		i--
	}
	for i--; i > 0; i-- {
		if data[i] == '"' && data[i-1] != '\\' {
			return i
		}
	}
	return max(i, 0)
}

// position renders a byte offset as "line L, column C" (both from 1).
func position(data []byte, off int) string {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// jsonError adds a position to encoding/json's errors.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, including the bad one.
		return fmt.Errorf("%s: invalid JSON: %w", position(data, int(syn.Offset)-1), err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("%s: %s: cannot use JSON %s as %s", position(data, int(typ.Offset)), field, typ.Value, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("invalid JSON: unexpected end of input: %w", err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
