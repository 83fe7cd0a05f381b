package seccomp

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const dockerProfile = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"defaultErrnoRet": 1,
	"archMap": [
		{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
	],
	"syscalls": [
		{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
		{"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}, "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
		{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
		{"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
		{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"minKernel": "5.0"}},
		{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}], "comment": "32-bit"}
	]
}`

func names(s *specs.LinuxSeccomp) []string {
	var out []string
	for _, sc := range s.Syscalls {
		out = append(out, sc.Names...)
	}
	return out
}

func TestResolve(t *testing.T) {
	p, err := ParseProfile([]byte(dockerProfile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc   string
		caps   []string
		goarch string
		kernel string
		arches []specs.Arch
		want   []string
	}{
		{"amd64, no caps, new kernel", nil, "amd64", "6.18.44-fc", []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read", "write", "ptrace", "arch_prctl", "personality"}},
		{"arm64 with SYS_ADMIN and SYS_PTRACE, old kernel", []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}, "arm64", "4.4.0", []specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			[]string{"read", "write", "mount", "cacheflush", "keyctl", "personality"}},
		{"unknown kernel satisfies no minKernel", nil, "amd64", "", []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read", "write", "arch_prctl", "keyctl", "personality"}},
		{"kernel exactly at minKernel", nil, "arm64", "4.8", []specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			[]string{"read", "write", "ptrace", "cacheflush", "keyctl", "personality"}},
		{"no archMap entry", nil, "386", "6.1", nil,
			[]string{"read", "write", "ptrace", "cacheflush", "personality"}},
	}
	for _, tc := range tests {
		got := p.Resolve(tc.caps, tc.goarch, tc.kernel)
		if !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("%s: syscalls %v, want %v", tc.desc, names(got), tc.want)
		}
		if !reflect.DeepEqual(got.Architectures, tc.arches) {
			t.Errorf("%s: architectures %v, want %v", tc.desc, got.Architectures, tc.arches)
		}
		if err := Validate(got); err != nil {
			t.Errorf("%s: resolved profile invalid: %v", tc.desc, err)
		}
	}
}

func TestParseOCIAndConfig(t *testing.T) {
	oci := `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"flags":["SECCOMP_FILTER_FLAG_LOG"],
		"syscalls":[{"names":["bpf"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`
	config := `{"ociVersion":"1.2.0","process":{"args":["sh"]},"linux":{"namespaces":[],"seccomp":` + oci + `}}`
	for _, in := range []string{oci, config} {
		p, err := ParseProfile([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got := p.Resolve(nil, "amd64", "6.1")
		if got.DefaultAction != specs.ActAllow || len(got.Flags) != 1 || names(got)[0] != "bpf" || *got.Syscalls[0].ErrnoRet != 1 {
			t.Errorf("parsed %+v", got)
		}
		prog := mustCompile(t, got, "amd64")
		if prog.Flags != 2 {
			t.Errorf("Flags = %#x, want SECCOMP_FILTER_FLAG_LOG", prog.Flags)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		desc, in, want string
	}{
		{"syntax error names line and column", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [}\n", "line 3, column 16: invalid JSON"},
		{"truncated", `{"defaultAction": "SCMP_ACT_ALLOW"`, "unexpected end"},
		{"unknown field with position", "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [{\"nmes\": [\"read\"]}]}", `line 2, column 16: syscalls[0].nmes: unknown field`},
		{"duplicate field", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultAction": "SCMP_ACT_KILL"}`, "defaultAction: duplicate field"},
		{"wrong type", "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n\"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": \"zero\"}]}]}", "line 2, column"},
		{"negative errno", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}`, "defaultErrnoRet"},
		{"unknown operator", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["c"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}`,
			`syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{"index out of range", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
			"syscalls[0].args[0].index: 6 out of range (0-5)"},
		{"unknown action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_FOO"}]}`, `syscalls[0].action: unknown action "SCMP_ACT_FOO"`},
		{"unknown default action", `{"defaultAction": "ALLOW"}`, `defaultAction: unknown action "ALLOW"`},
		{"missing default action", `{"syscalls": []}`, "defaultAction: missing"},
		{"notify default", `{"defaultAction": "SCMP_ACT_NOTIFY"}`, "cannot be the default action"},
		{"errno out of range", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]}`, "syscalls[0].errnoRet: errnoRet 5000 out of range"},
		{"unknown arch", `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}`, `architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{"unknown archMap arch", `{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["X32"]}]}`, `archMap[0].subArchitectures[0]: unknown architecture "X32"`},
		{"unknown flag", `{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}`, `flags[0]: unknown flag`},
		{"name and names", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0]: both name and names"},
		{"no names", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0].names: no syscall named"},
		{"bad minKernel", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}`, "syscalls[0].includes.minKernel"},
		{"bad cap", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["SYS_ADMIN"]}}]}`, "syscalls[0].excludes.caps[0]"},
		{"config path prefix", `{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BAD"}]}}}`, "linux.seccomp.syscalls[0].action"},
		{"config unknown seccomp field", `{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}}}`, "linux.seccomp.sycalls: unknown field"},
		{"config without seccomp", `{"linux": {}}`, "linux.seccomp: missing"},
		{"not an object", `[1, 2]`, "cannot use JSON array"},
	}
	for _, tc := range tests {
		_, err := ParseProfile([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.desc, err, tc.want)
		}
	}
}

func TestValidateOCI(t *testing.T) {
	good := Default(dockerCaps)
	if err := Validate(good); err != nil {
		t.Fatalf("Default invalid: %v", err)
	}
	bad := *good
	bad.Syscalls = append([]specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 9, Op: specs.OpEqualTo}}}}, good.Syscalls...)
	if err := Validate(&bad); err == nil || !strings.Contains(err.Error(), "syscalls[0].args[0].index: 9 out of range") {
		t.Errorf("got %v", err)
	}
	if err := Validate(nil); err == nil {
		t.Error("nil profile accepted")
	}
	// Unknown syscall names are ignored, not errors (libseccomp does the same).
	unknown := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_call"}, Action: specs.ActErrno}}}
	if err := Validate(unknown); err != nil {
		t.Errorf("unknown name rejected: %v", err)
	}
}

// TestX32TableMatchesHeaders checks the generated x32 table, which gen
// derives from a list rather than x/sys, against the kernel headers when
// the host has them (Debian: linux-libc-dev).
func TestX32TableMatchesHeaders(t *testing.T) {
	f, err := os.Open("/usr/include/x86_64-linux-gnu/asm/unistd_x32.h")
	if err != nil {
		t.Skipf("x32 kernel header not installed (%v); apt-get install linux-libc-dev to run this check", err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^#define __NR_(\w+) \(__X32_SYSCALL_BIT \+ (\d+)\)`)
	sc := bufio.NewScanner(f)
	checked := 0
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		want := uint32(n) | x32SyscallBit
		got, ok := SyscallNumber(specs.ArchX32, m[1])
		if !ok {
			t.Errorf("x32 %s (%#x) missing from the table", m[1], want)
			continue
		}
		if got != want {
			t.Errorf("x32 %s: table says %#x, header says %#x", m[1], got, want)
		}
		checked++
	}
	if checked < 300 {
		t.Errorf("only %d x32 syscalls checked", checked)
	}
}
