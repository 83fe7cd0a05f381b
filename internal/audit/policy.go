package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tirith-project/tirith/internal/atomicfile"
)

// Policy is the image policy `tirith run` applies before it starts a
// container: the image's setuid-root binaries (outside AllowSetuid) and
// secrets in ENV or layers, at or above Severity, are warned about or
// refuse the run.
type Policy struct {
	// Mode is "warn" (the default), "refuse" or "off".
	Mode     string
	Severity Severity
	// AllowSetuid replaces DefaultSetuidAllow when not nil.
	AllowSetuid  []string
	AllowSecrets []string
}

// PolicyModes are the values of --image-policy.
var PolicyModes = []string{"warn", "refuse", "off"}

// PolicyChecks are the image checks the run-time policy applies.
var PolicyChecks = []string{"IMG-SETUID", "IMG-SECRET-ENV", "IMG-SECRET-FILE"}

// DefaultSetuidAllow are the setuid programs distributions ship in
// their base images (account and mount tools): behind no_new_privs and
// nosuid mounts they cannot raise privileges, and warning about them on
// every run of every Debian image would bury the warnings that matter.
var DefaultSetuidAllow = []string{
	"/bin/su", "/usr/bin/su", "/bin/mount", "/usr/bin/mount", "/bin/umount", "/usr/bin/umount",
	"/usr/bin/passwd", "/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/newgrp",
	"/usr/lib/dbus-1.0/dbus-daemon-launch-helper", "/usr/lib/openssh/ssh-keysign",
}

// Config is Tirith's configuration file (JSON); only the image policy
// lives there for now.
type Config struct {
	ImagePolicy         string   `json:"imagePolicy,omitempty"`
	ImagePolicySeverity string   `json:"imagePolicySeverity,omitempty"`
	AllowSetuid         []string `json:"allowSetuid,omitempty"`
	AllowSecrets        []string `json:"allowSecrets,omitempty"`
}

// DefaultConfigPath is read unless $TIRITH_CONFIG names another file.
const DefaultConfigPath = "/etc/tirith/config.json"

// LoadPolicy builds the policy from the config file (absent is fine)
// and the flag mode ("" keeps the file's, else warn).
func LoadPolicy(configPath, flagMode string) (Policy, error) {
	p := Policy{Mode: "warn", Severity: High}
	b, err := os.ReadFile(configPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return p, fmt.Errorf("config %s: %w", configPath, err)
	default:
		var c Config
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return p, fmt.Errorf("config %s: %w", configPath, err)
		}
		if c.ImagePolicy != "" {
			p.Mode = c.ImagePolicy
		}
		if c.ImagePolicySeverity != "" {
			if p.Severity, err = ParseSeverity(c.ImagePolicySeverity); err != nil {
				return p, fmt.Errorf("config %s: imagePolicySeverity: %w", configPath, err)
			}
		}
		p.AllowSetuid, p.AllowSecrets = c.AllowSetuid, c.AllowSecrets
		if err := checkMode(p.Mode); err != nil {
			return p, fmt.Errorf("config %s: imagePolicy: %w", configPath, err)
		}
	}
	if flagMode != "" {
		if err := checkMode(flagMode); err != nil {
			return p, fmt.Errorf("--image-policy: %w", err)
		}
		p.Mode = flagMode
	}
	return p, nil
}

func checkMode(m string) error {
	for _, x := range PolicyModes {
		if m == x {
			return nil
		}
	}
	return fmt.Errorf("unknown mode %q (want %s)", m, strings.Join(PolicyModes, ", "))
}

// Violations audits in (or reads the result cached for its ID and this
// policy's allow-lists in cacheDir) and returns the policy checks'
// problems at or above the policy's severity.
func (p Policy) Violations(in ImageInput, cacheDir string) ([]Finding, error) {
	if p.Mode == "off" {
		return nil, nil
	}
	opts := ImageOptions{AllowSetuid: p.AllowSetuid, AllowSecrets: p.AllowSecrets}
	if opts.AllowSetuid == nil {
		opts.AllowSetuid = DefaultSetuidAllow
	}
	key, _ := json.Marshal(struct {
		ID   string
		Opts ImageOptions
	}{in.ID, opts})
	sum := sha256.Sum256(key)
	cache := filepath.Join(cacheDir, cacheName(in.ID, hex.EncodeToString(sum[:16])))
	var found []Finding
	if b, err := os.ReadFile(cache); err != nil || json.Unmarshal(b, &found) != nil {
		r, err := Image(in, opts)
		if err != nil {
			return nil, err
		}
		found = nil
		for _, id := range PolicyChecks {
			found = append(found, r.Find(id)...)
		}
		// The cache is an optimisation: failing to write it is no error.
		if err := os.MkdirAll(cacheDir, 0o700); err == nil {
			if b, err := json.Marshal(found); err == nil {
				_ = atomicfile.Write(cache, b, 0o600)
			}
		}
	}
	var out []Finding
	for _, f := range found {
		if f.Problem() && f.Severity >= p.Severity {
			out = append(out, f)
		}
	}
	return out, nil
}

// cacheName is "<image ID hex>-<options hash>.json": the image comes
// first so that PruneCache can tell which images an entry is about.
func cacheName(id, opts string) string {
	return strings.TrimPrefix(id, "sha256:") + "-" + opts + ".json"
}

// PruneCache removes the entries of cacheDir whose image is not in
// images (IDs), and returns the bytes freed.
func PruneCache(cacheDir string, images []string) int64 {
	keep := map[string]bool{}
	for _, id := range images {
		keep[strings.TrimPrefix(id, "sha256:")] = true
	}
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		return 0
	}
	var freed int64
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), "-")
		if keep[id] {
			continue
		}
		if fi, err := e.Info(); err == nil && os.Remove(filepath.Join(cacheDir, e.Name())) == nil {
			freed += fi.Size()
		}
	}
	return freed
}
