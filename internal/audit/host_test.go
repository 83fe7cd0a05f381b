package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hostFixture(t *testing.T, sysctls map[string]string) HostInput {
	t.Helper()
	d := t.TempDir()
	files := map[string]string{"proc/filesystems": "nodev\ttmpfs\nnodev\toverlay\n"}
	for k, v := range sysctls {
		files["proc/sys/"+strings.ReplaceAll(k, ".", "/")] = v + "\n"
	}
	writeFiles(t, d, files)
	return HostInput{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Subuid: filepath.Join(d, "subuid"),
		Kernel: "6.1.0-18-amd64", LandlockABI: 3, CgroupMode: "v2"}
}

var hardened = map[string]string{
	"user.max_user_namespaces": "15000", "kernel.seccomp.actions_avail": "kill_process kill_thread trap errno user_notif trace log allow",
	"kernel.dmesg_restrict": "1", "kernel.kptr_restrict": "1", "kernel.perf_event_paranoid": "3", "kernel.unprivileged_bpf_disabled": "2",
	"vm.unprivileged_userfaultfd": "0", "kernel.io_uring_disabled": "2", "fs.protected_hardlinks": "1", "fs.protected_symlinks": "1",
	"fs.protected_fifos": "1", "fs.protected_regular": "2", "kernel.yama.ptrace_scope": "1",
}

func TestHostHardenedPasses(t *testing.T) {
	in := hostFixture(t, hardened)
	in.SignaturePolicy = filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(in.SignaturePolicy, []byte(`{"default":[{"type":"reject"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.Subuid, []byte("root:1000000:6553600\nalice:100000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Host(in)
	if p := problems(r); len(p) != 0 {
		t.Fatalf("hardened host has problems: %v", p)
	}
	want(t, r, "HOST-SUBUID", High, Pass, "root: 1000000+6553600 (100 container ranges")
	want(t, r, "HOST-SECCOMP", High, Pass, "action cache: yes")
}

func TestHostWeakSettings(t *testing.T) {
	weak := map[string]string{}
	for k, v := range hardened {
		weak[k] = v
	}
	weak["kernel.kptr_restrict"] = "0"
	weak["fs.protected_symlinks"] = "0"
	weak["user.max_user_namespaces"] = "0"
	delete(weak, "kernel.yama.ptrace_scope") // optional: a note when absent
	in := hostFixture(t, weak)
	in.LandlockABI, in.CgroupMode, in.Kernel = 0, "hybrid", "5.10.0-28-amd64"
	if err := os.WriteFile(in.Subuid, []byte("alice:100000:65536\nbob:150000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Host(in)
	want(t, r, "HOST-KPTR-RESTRICT", Low, Warn, "KASLR")
	want(t, r, "HOST-PROTECTED-SYMLINKS", Medium, Warn)
	want(t, r, "HOST-USERNS", High, Fail, "user.max_user_namespaces = 0")
	want(t, r, "HOST-LANDLOCK", Medium, Fail)
	want(t, r, "HOST-CGROUP", Low, Warn, "mode: hybrid")
	want(t, r, "HOST-IDMAPPED-MOUNTS", Medium, Warn)
	want(t, r, "HOST-SECCOMP", High, Pass, "action cache: no")
	want(t, r, "HOST-YAMA-PTRACE", Info, Note)
	want(t, r, "HOST-SUBUID", High, Fail, "alice 100000+65536 overlaps bob 150000+65536", "no range for root")
}

func TestHostTirithFiles(t *testing.T) {
	in := hostFixture(t, hardened)
	d := t.TempDir()
	in.Storage, in.Root = filepath.Join(d, "storage"), filepath.Join(d, "missing")
	if err := os.Mkdir(in.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(d, "bin")
	if err := os.Mkdir(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o777)
	in.Binary = filepath.Join(bin, "tirith")
	if err := os.WriteFile(in.Binary, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Host(in)
	want(t, r, "HOST-STORE-MODE", High, Fail, "mode 0755")
	want(t, r, "HOST-STATE-MODE", Info, Note, "created 0700 on first use")
	want(t, r, "HOST-BINARY", Critical, Fail, bin+": owner")
	os.Chmod(in.Storage, 0o700)
	os.Chmod(bin, 0o755)
	r = Host(in)
	want(t, r, "HOST-STORE-MODE", High, Pass)
	if f := r.Find("HOST-BINARY")[0]; os.Geteuid() == 0 && f.Result != Pass {
		t.Fatalf("a root-owned binary in root-owned 0755 dirs: %+v", f)
	}
}

func TestHostSignaturePolicy(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		policy string // "" for no file
		result Result
		sev    Severity
		ev     string
	}{
		"none":     {"", Warn, Medium, "does not exist"},
		"broken":   {`{"default":[{"type":"reject"}],"defualt":[]}`, Fail, High, "defualt"},
		"anything": {`{"default":[{"type":"insecureAcceptAnything"}]}`, Warn, Low, "policy.json"},
		"reject":   {`{"default":[{"type":"reject"}]}`, Pass, Medium, "policy.json"},
	} {
		t.Run(name, func(t *testing.T) {
			in := hostFixture(t, hardened)
			in.SignaturePolicy = filepath.Join(dir, name, "policy.json")
			if c.policy != "" {
				if err := os.MkdirAll(filepath.Dir(in.SignaturePolicy), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(in.SignaturePolicy, []byte(c.policy), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want(t, Host(in), "HOST-SIGNATURE-POLICY", c.sev, c.result, c.ev)
		})
	}
}
