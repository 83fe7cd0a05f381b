package specgen

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/spec"
)

// Fuzz targets for `tirith run`'s flag parsers. The property of each: no
// input panics, and what is accepted is well-formed (the shape the rest of
// BuildSpec relies on). Seeds live in testdata/fuzz/<Target>.

// FuzzParseSecret: --secret. An accepted target is a plain file name in
// /run/secrets: never empty, ".", "..", or containing '/'.
func FuzzParseSecret(f *testing.F) {
	f.Add("/run/keys/db,target=db,mode=0440,uid=1000")
	f.Fuzz(func(t *testing.T, s string) {
		so, err := parseSecret(s)
		if err != nil {
			return
		}
		if so.Source == "" {
			t.Fatalf("parseSecret(%q): empty source accepted", s)
		}
		if so.Target == "" || so.Target == "." || so.Target == ".." || strings.Contains(so.Target, "/") {
			t.Fatalf("parseSecret(%q): target %q is not a plain file name", s, so.Target)
		}
		if filepath.Join(SecretsDir, so.Target) != SecretsDir+"/"+so.Target {
			t.Fatalf("parseSecret(%q): target %q does not stay in %s", s, so.Target, SecretsDir)
		}
		if so.Mode > 0o777 {
			t.Fatalf("parseSecret(%q): mode %o has more than permission bits", s, so.Mode)
		}
	})
}

// FuzzParseVolume: -v. An accepted mount is an rbind of a clean absolute
// host path onto a clean absolute container path other than /, always
// nosuid and nodev, read-only exactly when rw is false.
func FuzzParseVolume(f *testing.F) {
	f.Add("/tmp:/data:ro")
	f.Fuzz(func(t *testing.T, v string) {
		m, rw, err := parseVolume(v)
		if err != nil {
			return
		}
		if !path.IsAbs(m.Destination) || path.Clean(m.Destination) != m.Destination || m.Destination == "/" {
			t.Fatalf("parseVolume(%q): destination %q is not clean and absolute (or is /)", v, m.Destination)
		}
		if !filepath.IsAbs(m.Source) || filepath.Clean(m.Source) != m.Source {
			t.Fatalf("parseVolume(%q): source %q is not clean and absolute", v, m.Source)
		}
		if m.Type != "bind" || !slices.Contains(m.Options, "rbind") || !slices.Contains(m.Options, "nosuid") || !slices.Contains(m.Options, "nodev") {
			t.Fatalf("parseVolume(%q): mount %+v lacks rbind,nosuid,nodev", v, m)
		}
		if rw == slices.Contains(m.Options, "ro") {
			t.Fatalf("parseVolume(%q): rw %v but options %q", v, rw, m.Options)
		}
		if !rw && !strings.HasSuffix(v, "ro") {
			t.Fatalf("parseVolume(%q): read-only without asking", v)
		}
	})
}

// FuzzParseTmpfs: --tmpfs. An accepted mount is a tmpfs on a clean
// absolute path other than /, starting with nosuid,nodev,noexec and always
// size-capped; user options are only ever appended (later ones win, as in
// mount(8)), and none is empty.
func FuzzParseTmpfs(f *testing.F) {
	f.Add("/cache:size=1m,exec")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseTmpfs(s)
		if err != nil {
			return
		}
		if !path.IsAbs(m.Destination) || path.Clean(m.Destination) != m.Destination || m.Destination == "/" {
			t.Fatalf("parseTmpfs(%q): destination %q is not clean and absolute (or is /)", s, m.Destination)
		}
		if m.Type != "tmpfs" || len(m.Options) < 4 || !slices.Equal(m.Options[:3], []string{"nosuid", "nodev", "noexec"}) {
			t.Fatalf("parseTmpfs(%q): mount %+v does not start with the safe defaults", s, m)
		}
		if !slices.ContainsFunc(m.Options, func(o string) bool { return strings.HasPrefix(o, "size=") }) {
			t.Fatalf("parseTmpfs(%q): no size cap in %q", s, m.Options)
		}
	})
}

// FuzzParseDevice: --device. An accepted device has an absolute container
// path, a c or b type and a non-empty subset of rwm; the host path must
// exist and be a device node (so seeds use /dev/null and friends).
func FuzzParseDevice(f *testing.F) {
	f.Add("/dev/null:/dev/mynull:rw")
	f.Fuzz(func(t *testing.T, d string) {
		dev, rule, err := parseDevice(d)
		if err != nil {
			return
		}
		if !path.IsAbs(dev.Path) {
			t.Fatalf("parseDevice(%q): container path %q is not absolute", d, dev.Path)
		}
		if (dev.Type != "c" && dev.Type != "b") || rule.Type != dev.Type || !rule.Allow {
			t.Fatalf("parseDevice(%q): device %+v, rule %+v", d, dev, rule)
		}
		if rule.Access == "" || strings.Trim(rule.Access, "rwm") != "" {
			t.Fatalf("parseDevice(%q): access %q", d, rule.Access)
		}
		if rule.Major == nil || rule.Minor == nil || *rule.Major != dev.Major || *rule.Minor != dev.Minor {
			t.Fatalf("parseDevice(%q): rule %+v does not match device %+v", d, rule, dev)
		}
	})
}

// FuzzParseUlimit: --ulimit. An accepted limit names a known rlimit and
// has soft <= hard.
func FuzzParseUlimit(f *testing.F) {
	f.Add("nofile=1024:2048")
	f.Fuzz(func(t *testing.T, u string) {
		rl, err := parseUlimit(u)
		if err != nil {
			return
		}
		if _, ok := spec.Rlimit(rl.Type); !ok {
			t.Fatalf("parseUlimit(%q): unknown type %q", u, rl.Type)
		}
		if rl.Soft > rl.Hard {
			t.Fatalf("parseUlimit(%q): soft %d > hard %d", u, rl.Soft, rl.Hard)
		}
	})
}

// FuzzParseSecurityOpts: --security-opt, one option per line. no_new_privs
// is only ever turned off by an explicit no-new-privileges option, and an
// accepted seccomp/landlock/apparmor value is never empty when its key was
// given.
func FuzzParseSecurityOpts(f *testing.F) {
	f.Add("seccomp=unconfined\nno-new-privileges=false")
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, "\n")
		so, err := parseSecurityOpts(opts)
		if err != nil {
			return
		}
		asked := map[string]bool{}
		for _, o := range opts {
			k, _, ok := strings.Cut(o, "=")
			if !ok {
				k, _, _ = strings.Cut(o, ":")
			}
			asked[k] = true
		}
		if !so.noNewPrivs && !asked["no-new-privileges"] {
			t.Fatalf("parseSecurityOpts(%q): no_new_privs off without no-new-privileges", opts)
		}
		if so.labelDisable && !asked["label"] {
			t.Fatalf("parseSecurityOpts(%q): labels disabled without label=disable", opts)
		}
		for k, v := range map[string]string{"seccomp": so.seccomp, "landlock": so.landlock, "apparmor": so.apparmor} {
			if asked[k] != (v != "") {
				t.Fatalf("parseSecurityOpts(%q): %s given %v but value %q", opts, k, asked[k], v)
			}
		}
	})
}

// FuzzEnvFile: --env-file, read and merged by buildEnv. Comments and blank
// lines are dropped; every resulting variable has a non-empty name, appears
// once, and the caller's environment is consulted only for bare names.
func FuzzEnvFile(f *testing.F) {
	f.Add([]byte("# comment\nA=1\n  B=two words\nC\n\nD=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		lines, err := readEnvFile(p)
		if err != nil {
			return
		}
		for _, l := range lines {
			if l == "" || l[0] == '#' || l[0] == ' ' || l[0] == '\t' || strings.Contains(l, "\n") {
				t.Fatalf("readEnvFile kept line %q", l)
			}
		}
		o := &Options{EnvFiles: []string{p}, LookupEnv: func(k string) (string, bool) {
			if strings.Contains(k, "=") {
				t.Fatalf("LookupEnv(%q): a name with '='", k)
			}
			return "from-host", true
		}}
		env, _, err := buildEnv([]string{"PATH=/image/bin", "HOME=/root"}, o, "host", "/root")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				t.Fatalf("buildEnv produced %q from %q", kv, lines)
			}
			if seen[k] {
				t.Fatalf("buildEnv produced %q twice", k)
			}
			seen[k] = true
		}
		if !seen["PATH"] || !seen["HOSTNAME"] || !seen["HOME"] {
			t.Fatalf("buildEnv lost PATH, HOSTNAME or HOME: %q", env)
		}
	})
}
