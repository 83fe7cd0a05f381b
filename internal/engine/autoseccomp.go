package engine

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/seccomp/profgen"
	"github.com/tirith-project/tirith/internal/seccomp/static"
)

// autoProfile is what the seccomp=auto cache keeps for one image and
// entrypoint: the generated profile, or why there is none.
type autoProfile struct {
	Binary  string          `json:"binary"`
	Profile json.RawMessage `json:"profile,omitempty"`
	// Fallback, when set, says why the default profile is used instead.
	Fallback string `json:"fallback,omitempty"`
}

func (e *Engine) seccompCacheDir() string { return filepath.Join(e.Storage, "seccomp-auto") }

// autoSeccomp carries out --security-opt seccomp=auto: the profile
// generated from the entrypoint binary in the container's rootfs, cached
// per image ID and binary, replaces the default profile in built. When
// the analysis is incomplete (an unresolved site, a binary that is not
// x86_64 ELF, or one that can execute other programs, whose syscalls are
// not analysed), the default profile stays and a warning says why.
func (e *Engine) autoSeccomp(imageID, rootfs string, built *specgen.Built) error {
	built.Seccomp = "default"
	if !built.Spec.Process.NoNewPrivileges {
		// The filter would then go up before the runtime's capability
		// switch, whose syscalls no program's profile holds.
		built.Warnings = append(built.Warnings, "--security-opt seccomp=auto: no-new-privileges=false installs the filter before the runtime's own setup; using the default profile")
		return nil
	}
	args := built.Spec.Process.Args
	if len(args) == 0 || goruntime.GOARCH != "amd64" {
		built.Warnings = append(built.Warnings, "--security-opt seccomp=auto: only x86_64 binaries are analysed; using the default profile")
		return nil
	}
	bin, host, err := findProgram(rootfs, args[0], built.Spec.Process.Env)
	if err != nil {
		built.Warnings = append(built.Warnings, fmt.Sprintf("--security-opt seccomp=auto: %v; using the default profile", err))
		return nil
	}
	sum := sha256.Sum256([]byte(imageID + "\x00" + bin))
	cache := filepath.Join(e.seccompCacheDir(), hex.EncodeToString(sum[:])+".json")
	var ap autoProfile
	if data, err := os.ReadFile(cache); err == nil && json.Unmarshal(data, &ap) == nil && ap.Binary == bin {
		// cached
	} else {
		ap = generateAuto(bin, host, rootfs)
		data, err := json.Marshal(ap)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(e.seccompCacheDir(), 0o700); err != nil {
			return fmt.Errorf("seccomp=auto cache: %w", err)
		}
		if err := os.Chmod(e.seccompCacheDir(), 0o700); err != nil {
			return fmt.Errorf("seccomp=auto cache: %w", err)
		}
		if err := atomicfile.Write(cache, data, 0o600); err != nil {
			return fmt.Errorf("seccomp=auto cache: %w", err)
		}
	}
	if ap.Fallback != "" {
		built.Warnings = append(built.Warnings, fmt.Sprintf("--security-opt seccomp=auto: %s: %s; using the default profile", bin, ap.Fallback))
		return nil
	}
	p, err := seccomp.ParseProfile(ap.Profile)
	if err != nil {
		return fmt.Errorf("seccomp=auto: cached profile for %s: %w", bin, err)
	}
	var caps []string
	if c := built.Spec.Process.Capabilities; c != nil {
		caps = c.Bounding
	}
	built.Spec.Linux.Seccomp = p.Resolve(caps, goruntime.GOARCH, kernelRelease())
	built.Seccomp = "auto"
	return nil
}

// generateAuto analyses the entrypoint; the profile leaves out what the
// default refuses, so it is never broader than the default.
func generateAuto(bin, host, rootfs string) autoProfile {
	ap := autoProfile{Binary: bin}
	if f, err := elf.Open(host); err != nil {
		ap.Fallback = "not an ELF binary (a script's interpreter runs other programs)"
		return ap
	} else {
		f.Close()
	}
	res, err := static.Analyze(host, static.Options{Rootfs: rootfs})
	if err != nil {
		ap.Fallback = err.Error()
		return ap
	}
	if !res.Complete() {
		ap.Fallback = fmt.Sprintf("the analysis left %d syscall site(s) unresolved (first: %s)", len(res.Unresolved), res.Unresolved[0])
		return ap
	}
	for _, n := range []string{"execve", "execveat"} {
		if _, ok := res.Syscalls[n]; ok {
			ap.Fallback = "it can execute other programs, whose syscalls are not analysed"
			return ap
		}
	}
	p, _, err := res.Profile(true)
	if err != nil {
		ap.Fallback = err.Error()
		return ap
	}
	p.Comment = strings.Replace(p.Comment, "--from-binary "+filepath.Base(res.Path), "--from-binary "+bin, 1) + " (seccomp=auto)"
	data, _, err := profgen.Write(p)
	if err != nil {
		ap.Fallback = err.Error()
		return ap
	}
	ap.Profile = data
	return ap
}

// findProgram resolves the payload's argv[0] inside rootfs as execve and
// the init's PATH lookup would: a name with a slash as it is, else the
// first regular file of that name on the process's PATH.
func findProgram(rootfs, name string, env []string) (inRoot, host string, err error) {
	cands := []string{name}
	if !strings.Contains(name, "/") {
		path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		cands = nil
		for _, d := range filepath.SplitList(path) {
			if d != "" {
				cands = append(cands, filepath.Join(d, name))
			}
		}
	}
	for _, c := range cands {
		if !filepath.IsAbs(c) {
			continue
		}
		h, err := securejoin.SecureJoin(rootfs, c)
		if err != nil {
			continue
		}
		if st, err := os.Stat(h); err == nil && st.Mode().IsRegular() {
			return c, h, nil
		}
	}
	return "", "", errors.New("entrypoint " + name + " not found in the image")
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
