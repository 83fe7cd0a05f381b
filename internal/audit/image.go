package audit

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageInput is an image to audit without running it: its config and
// its layers as tar streams, bottom first.
type ImageInput struct {
	// Ref is the name the user gave (for the latest-tag check), Names
	// the image's canonical tags, ID its config digest.
	Ref    string
	Names  []string
	ID     string
	Config *v1.ConfigFile
	Layers int
	// Open returns layer i's uncompressed tar stream.
	Open func(i int) (io.ReadCloser, error)
}

// ImageOptions tune the image audit.
type ImageOptions struct {
	// AllowSecrets are names (ENV, labels, history) and paths (files)
	// not to report as secrets: "NAME", "PREFIX*", "/dir" (and below).
	AllowSecrets []string
	// AllowSetuid are paths whose setuid/setgid bits are accepted.
	AllowSetuid []string
}

// fileEntry is one path as a layer left it.
type fileEntry struct {
	layer    int
	typ      byte
	mode     int64
	uid, gid int
	size     int64
	// fcaps: the file carries file capabilities (security.capability).
	fcaps bool
	hdr   *tar.Header
}

// fcapsKey is how tar records file capabilities.
const fcapsKey = "SCHILY.xattr.security.capability"

// imageScan is the state of the walk over the layers.
type imageScan struct {
	files map[string]*fileEntry
	// content of the files the account checks read, topmost wins.
	content map[string][]byte
	// secretFiles found in any layer, in layer order.
	secretFiles []secretHit
	// deleted are paths a later layer removed: path -> where.
	deleted []deletion
	opts    ImageOptions
}

type secretHit struct {
	path, what string
	layer      int
}

type deletion struct {
	path          string
	layer, inLayr int
}

// accountFiles are read for the account checks (DKL-LI-0001/0002).
var accountFiles = map[string]bool{"/etc/passwd": true, "/etc/group": true, "/etc/shadow": true}

// maxContent caps what is read of one file for the content checks.
const maxContent = 64 << 10

// Image audits in. Errors are about reading the image (a layer that
// cannot be read), never about what it holds.
func Image(in ImageInput, opts ImageOptions) (*Report, error) {
	target := in.Ref
	if in.ID != "" {
		target += " (" + in.ID + ")"
	}
	r := &Report{Kind: "image", Target: strings.TrimSpace(target)}
	sc := &imageScan{files: map[string]*fileEntry{}, content: map[string][]byte{}, opts: opts}
	for i := 0; i < in.Layers; i++ {
		if err := sc.layer(in, i); err != nil {
			return nil, err
		}
	}
	cfg := v1.Config{}
	var hist []v1.History
	if in.Config != nil {
		cfg, hist = in.Config.Config, in.Config.History
	}
	checkUser(r, cfg)
	sc.checkSetuid(r)
	sc.checkWorldWritable(r)
	checkEnvSecrets(r, cfg, opts)
	checkLabelSecrets(r, cfg, opts)
	checkHistory(r, hist, opts)
	sc.checkSecretFiles(r)
	sc.checkDeleted(r)
	sc.checkCaches(r)
	sc.checkPresent(r, "IMG-SSHD", "an SSH server is installed", Medium, []string{"CIS 5.6"},
		[]string{"/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd", "/usr/sbin/dropbear", "/usr/bin/dropbear"},
		"containers are not logged into: remove the SSH server and use `tirith exec`")
	sc.checkPresent(r, "IMG-SUDO", "sudo (or doas) is installed", Medium, []string{"DKL-DI-0001"},
		[]string{"/usr/bin/sudo", "/bin/sudo", "/usr/sbin/sudo", "/usr/bin/doas"},
		"remove sudo: set the user with USER, drop privileges with setpriv or gosu")
	checkHealthcheck(r, cfg)
	checkLatest(r, in)
	checkVolumes(r, cfg)
	sc.checkAccounts(r)
	sc.checkUnnecessary(r)
	r.Add(Finding{ID: "IMG-CONTENT-TRUST", Title: "image signatures are not verified", Severity: Info, Result: Note,
		Evidence:    []string{"Tirith checks every blob's digest, but not who signed the image"},
		Remediation: "pull by digest (REPO@sha256:...) from a registry you trust",
		Refs:        []string{"CIS-DI-0002", "CIS-DI-0005"}})
	r.Sort()
	return r, nil
}

// cleanPath turns a tar name into an absolute path ("./a/b/" -> "/a/b").
func cleanPath(name string) string {
	return path.Clean("/" + name)
}

// eachEntry calls fn for every entry of layer i, its path cleaned, with
// the reader positioned at the entry's content; an error of fn stops it.
func eachEntry(in ImageInput, i int, fn func(p string, hdr *tar.Header, tr *tar.Reader) error) error {
	rc, err := in.Open(i)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer %d: %w", i, err)
		}
		if err := fn(cleanPath(hdr.Name), hdr, tr); err != nil {
			return err
		}
	}
}

func (sc *imageScan) layer(in ImageInput, i int) error {
	return eachEntry(in, i, func(p string, hdr *tar.Header, tr *tar.Reader) error {
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		switch {
		case base == ".wh..wh..opq":
			// Opaque: the lower layers' contents of dir are gone.
			sc.remove(dir, i, true)
			return nil
		case strings.HasPrefix(base, ".wh."):
			sc.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")), i, false)
			return nil
		}
		if old, ok := sc.files[p]; ok && old.typ == tar.TypeDir && hdr.Typeflag != tar.TypeDir {
			sc.remove(p, i, false) // a file replacing a directory hides its tree
		}
		_, fcaps := hdr.PAXRecords[fcapsKey]
		if _, ok := hdr.Xattrs["security.capability"]; ok { //nolint:staticcheck // older writers
			fcaps = true
		}
		sc.files[p] = &fileEntry{layer: i, typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, size: hdr.Size, fcaps: fcaps, hdr: hdr}
		if hdr.Typeflag != tar.TypeReg {
			delete(sc.content, p)
			return nil
		}
		if hdr.Size > maxContent && !accountFiles[p] {
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return fmt.Errorf("read layer %d: %s: %w", i, p, err)
		}
		if accountFiles[p] {
			sc.content[p] = b
		}
		if what := secretFile(p, b); what != "" && !allowed(p, sc.opts.AllowSecrets) {
			sc.secretFiles = append(sc.secretFiles, secretHit{p, what, i})
		}
		return nil
	})
}

// remove deletes p (and its tree) as seen from layer i; with opaque only
// the entries below p from lower layers go, p itself stays.
func (sc *imageScan) remove(p string, i int, opaque bool) {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for q, e := range sc.files {
		if e.layer >= i {
			continue
		}
		if (!opaque && q == p) || strings.HasPrefix(q, prefix) {
			if e.typ != tar.TypeDir {
				sc.deleted = append(sc.deleted, deletion{q, e.layer, i})
			}
			delete(sc.files, q)
			delete(sc.content, q)
		}
	}
}

// evidence caps a list of lines: CI logs need the first few, the count
// tells the rest.
func evidence(lines []string) []string {
	const max = 25
	sort.Strings(lines)
	if len(lines) <= max {
		return lines
	}
	return append(lines[:max:max], fmt.Sprintf("... and %d more", len(lines)-max))
}

func checkUser(r *Report, cfg v1.Config) {
	f := Finding{ID: "IMG-ROOT-USER", Title: "the image runs as a non-root user", Severity: High, Result: Pass,
		Refs: []string{"CIS-DI-0001", "CIS 4.1"}}
	u := cfg.User
	name, _, _ := strings.Cut(u, ":")
	if name == "" || name == "root" || name == "0" {
		f.Title, f.Result = "the image runs as root (no USER)", Fail
		if u == "" {
			f.Evidence = []string{"config.User is empty"}
		} else {
			f.Evidence = []string{fmt.Sprintf("config.User is %q", u)}
		}
		f.Remediation = "add a user and `USER name` to the Dockerfile (Tirith maps container root to an unprivileged host range, but root inside still owns the whole container)"
	}
	r.Add(f)
}

func modeString(m int64) string { return fmt.Sprintf("%04o", m&0o7777) }

func (sc *imageScan) sorted() []string {
	out := make([]string, 0, len(sc.files))
	for p := range sc.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (sc *imageScan) checkSetuid(r *Report) {
	var root, other []string
	for _, p := range sc.sorted() {
		e := sc.files[p]
		if !privileged(e) || allowed(p, sc.opts.AllowSetuid) {
			continue
		}
		line := fmt.Sprintf("%s (owner %d:%d, mode %s, layer %d)", p, e.uid, e.gid, modeString(e.mode), e.layer)
		if e.fcaps {
			line += " with file capabilities"
		}
		if e.mode&0o4000 != 0 && e.uid == 0 || e.fcaps {
			root = append(root, line)
		} else {
			other = append(other, line)
		}
	}
	f := Finding{ID: "IMG-SETUID", Title: "no setuid/setgid files or file capabilities", Severity: High, Result: Pass,
		Refs: []string{"CIS-DI-0008", "CIS 4.8"}}
	switch {
	case len(root) > 0:
		f.Title, f.Result = "setuid-root files or file capabilities", Fail
	case len(other) > 0:
		f.Title, f.Result, f.Severity = "setuid/setgid files", Warn, Medium
	}
	if f.Result != Pass {
		f.Evidence = evidence(append(root, other...))
		f.Remediation = "remove the bits (`chmod u-s,g-s FILE`) or the files, or run `tirith defang`; Tirith's no_new_privs and nosuid mounts keep them from working by default"
	}
	r.Add(f)
}

// privileged says whether a file raises privileges on exec: setuid,
// setgid or file capabilities.
func privileged(e *fileEntry) bool {
	return (e.typ == tar.TypeReg || e.typ == tar.TypeLink) && (e.mode&0o6000 != 0 || e.fcaps)
}

// scratchDirs may be world-writable: the sticky bit keeps users apart.
var scratchDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock"}

func (sc *imageScan) checkWorldWritable(r *Report) {
	var lines []string
	for _, p := range sc.sorted() {
		e := sc.files[p]
		// Devices and fifos are skipped at unpack (and /dev/null is
		// meant to be 0666); symlinks' modes mean nothing.
		if e.typ != tar.TypeReg && e.typ != tar.TypeDir && e.typ != tar.TypeLink || e.mode&0o002 == 0 {
			continue
		}
		if slices.Contains(scratchDirs, p) || slices.ContainsFunc(scratchDirs, func(d string) bool { return strings.HasPrefix(p, d+"/") }) {
			continue
		}
		kind := "file"
		if e.typ == tar.TypeDir {
			kind = "dir"
		}
		lines = append(lines, fmt.Sprintf("%s %s (mode %s, layer %d)", kind, p, modeString(e.mode), e.layer))
	}
	f := Finding{ID: "IMG-WORLD-WRITABLE", Title: "no world-writable files or directories outside /tmp", Severity: Medium, Result: Pass}
	if len(lines) > 0 {
		f.Title, f.Result = "world-writable files or directories outside /tmp", Fail
		f.Evidence = evidence(lines)
		f.Remediation = "`chmod o-w` them in the Dockerfile; any user in the container can replace what they hold"
	}
	r.Add(f)
}

func checkEnvSecrets(r *Report, cfg v1.Config, opts ImageOptions) {
	var lines []string
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		if allowed(k, opts.AllowSecrets) {
			continue
		}
		if why := secretReason(k, v); why != "" {
			lines = append(lines, fmt.Sprintf("ENV %s: %s", k, why))
		}
	}
	f := Finding{ID: "IMG-SECRET-ENV", Title: "no secrets in ENV", Severity: High, Result: Pass,
		Refs: []string{"CIS-DI-0010", "CIS 4.10"}}
	if len(lines) > 0 {
		f.Title, f.Result = "secrets in ENV", Fail
		f.Evidence = evidence(lines)
		f.Remediation = "pass secrets at run time with `tirith run --secret`; anyone who can pull the image reads its ENV. A false positive: --allow-secret NAME"
	}
	r.Add(f)
}

func checkLabelSecrets(r *Report, cfg v1.Config, opts ImageOptions) {
	var lines []string
	for k, v := range cfg.Labels {
		if allowed(k, opts.AllowSecrets) {
			continue
		}
		if why := secretReason(k, v); why != "" {
			lines = append(lines, fmt.Sprintf("LABEL %s: %s", k, why))
		}
	}
	f := Finding{ID: "IMG-SECRET-LABEL", Title: "no secrets in labels", Severity: High, Result: Pass,
		Refs: []string{"CIS-DI-0010", "CIS 4.10"}}
	if len(lines) > 0 {
		f.Title, f.Result = "secrets in labels", Fail
		f.Evidence = evidence(lines)
		f.Remediation = "remove the label; labels are public with the image. A false positive: --allow-secret NAME"
	}
	r.Add(f)
}

// checkHistory reads the build history: secrets in build arguments and
// ENV steps (CIS-DI-0010), update alone (CIS-DI-0007), ADD
// (CIS-DI-0009), sudo (DKL-DI-0001), upgrade (DKL-DI-0003), apk
// without --no-cache (DKL-DI-0004), apt caches kept (DKL-DI-0005).
func checkHistory(r *Report, hist []v1.History, opts ImageOptions) {
	var secrets, update, add, sudo, upgrade, apk, apt []string
	for i, h := range hist {
		cmd := h.CreatedBy
		step := fmt.Sprintf("history[%d]", i)
		before := len(secrets)
		for _, w := range strings.Fields(cmd) {
			k, v, ok := strings.Cut(w, "=")
			if !ok || strings.ContainsAny(k, "-/$") || allowed(k, opts.AllowSecrets) {
				continue
			}
			if why := secretReason(k, strings.Trim(v, `"'`)); why != "" {
				secrets = append(secrets, fmt.Sprintf("%s: %s: %s", step, k, why))
			}
		}
		if why := secretValue(cmd); why != "" && len(secrets) == before {
			secrets = append(secrets, fmt.Sprintf("%s: %s", step, why))
		}
		for _, part := range splitCommands(cmd) {
			f := strings.Fields(part)
			if hasSeq(f, "update") && (hasSeq(f, "apt-get") || hasSeq(f, "apt") || hasSeq(f, "apk") || hasSeq(f, "yum") || hasSeq(f, "dnf")) &&
				!strings.Contains(cmd, " install") && !strings.Contains(cmd, " add ") {
				update = append(update, step+": "+short(part))
			}
			if hasSeq(f, "sudo") {
				sudo = append(sudo, step+": "+short(part))
			}
			if hasSeq(f, "upgrade") || hasSeq(f, "dist-upgrade") {
				upgrade = append(upgrade, step+": "+short(part))
			}
			if hasSeq(f, "apk") && hasSeq(f, "add") && !hasSeq(f, "--no-cache") {
				apk = append(apk, step+": "+short(part))
			}
			if (hasSeq(f, "apt-get") || hasSeq(f, "apt")) && hasSeq(f, "install") && !strings.Contains(cmd, "/var/lib/apt/lists") {
				apt = append(apt, step+": "+short(part))
			}
		}
		// "ADD file:<digest> in /" is how builders record a base
		// image's rootfs; any other ADD may fetch URLs or unpack archives.
		if strings.Contains(cmd, "ADD ") && !strings.Contains(cmd, "ADD file:") && !strings.Contains(cmd, "ADD multi:") {
			add = append(add, step+": "+short(cmd))
		}
	}
	type hc struct {
		id, ok, bad string
		sev         Severity
		lines       []string
		fix         string
		refs        []string
	}
	for _, c := range []hc{
		{"IMG-SECRET-HISTORY", "no secrets in the build history", "secrets in the build history", High, secrets,
			"use build secrets (`RUN --mount=type=secret`), not ARG or ENV: the history ships with the image. A false positive: --allow-secret NAME",
			[]string{"CIS-DI-0010", "CIS 4.10"}},
		{"IMG-UPDATE-ALONE", "no package index update alone in a step", "package index update alone in a step", Low, update,
			"update and install in one RUN (`apt-get update && apt-get install ...`)", []string{"CIS-DI-0007", "CIS 4.7"}},
		{"IMG-ADD", "COPY, not ADD", "ADD in the build history", Low, add,
			"use COPY; ADD fetches URLs and unpacks archives", []string{"CIS-DI-0009", "CIS 4.9"}},
		{"IMG-SUDO-HISTORY", "no sudo in the build history", "sudo in the build history", Low, sudo,
			"build steps run as root already; drop sudo", []string{"DKL-DI-0001"}},
		{"IMG-UPGRADE", "no distribution upgrade in the build", "distribution upgrade in the build", Low, upgrade,
			"rebuild from an updated base image instead of upgrading in a layer", []string{"DKL-DI-0003"}},
		{"IMG-APK-NO-CACHE", "apk add uses --no-cache", "apk add without --no-cache", Low, apk,
			"`apk add --no-cache ...`", []string{"DKL-DI-0004"}},
		{"IMG-APT-LISTS", "apt lists removed after install", "apt-get install without removing /var/lib/apt/lists", Low, apt,
			"end the RUN with `&& rm -rf /var/lib/apt/lists/*`", []string{"DKL-DI-0005"}},
	} {
		f := Finding{ID: c.id, Title: c.ok, Severity: c.sev, Result: Pass, Refs: c.refs}
		if len(c.lines) > 0 {
			f.Title, f.Result, f.Evidence, f.Remediation = c.bad, Warn, evidence(c.lines), c.fix
			if c.sev >= High {
				f.Result = Fail
			}
		}
		r.Add(f)
	}
}

// splitCommands cuts a shell line at &&, ||, ; and |.
func splitCommands(s string) []string {
	return strings.FieldsFunc(strings.NewReplacer("&&", ";", "||", ";", "|", ";").Replace(s), func(r rune) bool { return r == ';' })
}

func hasSeq(fields []string, w string) bool { return slices.Contains(fields, w) }

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

func (sc *imageScan) checkSecretFiles(r *Report) {
	var lines []string
	for _, h := range sc.secretFiles {
		where := fmt.Sprintf("layer %d", h.layer)
		if e, ok := sc.files[h.path]; !ok || e.layer != h.layer {
			where += ", deleted or replaced later but still in that layer's blob"
		}
		lines = append(lines, fmt.Sprintf("%s: %s (%s)", h.path, h.what, where))
	}
	f := Finding{ID: "IMG-SECRET-FILE", Title: "no secret-looking files in any layer", Severity: High, Result: Pass,
		Refs: []string{"CIS-DI-0010", "CIS 4.10"}}
	if len(lines) > 0 {
		f.Title, f.Result = "secret-looking files in the layers", Fail
		f.Evidence = evidence(lines)
		f.Remediation = "rotate the secret, then rebuild without it (deleting it in a later layer does not remove it: the earlier layer ships it); use build secrets. A false positive: --allow-secret PATH"
	}
	r.Add(f)
}

func (sc *imageScan) checkDeleted(r *Report) {
	var lines []string
	for _, d := range sc.deleted {
		lines = append(lines, fmt.Sprintf("%s (in layer %d, deleted in layer %d)", d.path, d.layer, d.inLayr))
	}
	f := Finding{ID: "IMG-DELETED-FILE", Title: "no files deleted in a later layer", Severity: Low, Result: Pass}
	if len(lines) > 0 {
		f.Title, f.Result = "files deleted in a later layer still ship in an earlier one", Warn
		f.Evidence = evidence(lines)
		f.Remediation = "delete files in the RUN that creates them (or use a multi-stage build): a later deletion only hides them"
	}
	r.Add(f)
}

// caches are package managers' download caches and indexes, which no
// container needs: what each holds beyond its skeleton.
var caches = []struct{ dir, what string }{
	{"/var/cache/apt/archives", "apt package archives"},
	{"/var/lib/apt/lists", "apt package lists"},
	{"/var/cache/apk", "apk cache"},
	{"/var/cache/yum", "yum cache"},
	{"/var/cache/dnf", "dnf cache"},
	{"/root/.cache/pip", "pip cache"},
	{"/root/.npm/_cacache", "npm cache"},
}

func (sc *imageScan) checkCaches(r *Report) {
	counts := map[string]int{}
	for p, e := range sc.files {
		if e.typ != tar.TypeReg {
			continue
		}
		for _, c := range caches {
			if strings.HasPrefix(p, c.dir+"/") && path.Base(p) != "lock" {
				counts[c.dir]++
			}
		}
	}
	var lines []string
	for _, c := range caches {
		if n := counts[c.dir]; n > 0 {
			lines = append(lines, fmt.Sprintf("%s: %d files (%s)", c.dir, n, c.what))
		}
	}
	f := Finding{ID: "IMG-PKG-CACHE", Title: "no package-manager caches", Severity: Low, Result: Pass,
		Refs: []string{"DKL-DI-0004", "DKL-DI-0005"}}
	if len(lines) > 0 {
		f.Title, f.Result = "package-manager caches in the image", Warn
		f.Evidence = lines
		f.Remediation = "clean in the same RUN: `apt-get clean && rm -rf /var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`"
	}
	r.Add(f)
}

func (sc *imageScan) checkPresent(r *Report, id, title string, sev Severity, refs, paths []string, fix string) {
	var lines []string
	for _, p := range paths {
		if e, ok := sc.files[p]; ok && e.typ != tar.TypeDir {
			lines = append(lines, fmt.Sprintf("%s (layer %d)", p, e.layer))
		}
	}
	f := Finding{ID: id, Title: "not present: " + title, Severity: sev, Result: Pass, Refs: refs}
	if len(lines) > 0 {
		f.Title, f.Result, f.Evidence, f.Remediation = title, Warn, lines, fix
	}
	r.Add(f)
}

func checkHealthcheck(r *Report, cfg v1.Config) {
	f := Finding{ID: "IMG-HEALTHCHECK", Title: "the image has a HEALTHCHECK", Severity: Low, Result: Pass,
		Refs: []string{"CIS-DI-0006", "CIS 4.6"}}
	if hc := cfg.Healthcheck; hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		f.Title, f.Result = "no HEALTHCHECK", Warn
		f.Evidence = []string{"config.Healthcheck is not set"}
		f.Remediation = "add `HEALTHCHECK CMD ...` so orchestrators can tell a hung container"
	}
	r.Add(f)
}

func checkLatest(r *Report, in ImageInput) {
	f := Finding{ID: "IMG-LATEST-TAG", Title: "the image is not named by its latest tag", Severity: Low, Result: Pass,
		Refs: []string{"DKL-DI-0006"}}
	var lines []string
	if ref := in.Ref; ref != "" && !strings.Contains(ref, "@") {
		last := ref[strings.LastIndex(ref, "/")+1:]
		if !strings.Contains(last, ":") || strings.HasSuffix(last, ":latest") {
			lines = append(lines, fmt.Sprintf("%q resolves to the tag latest", ref))
		}
	}
	if len(lines) > 0 {
		f.Title, f.Result, f.Evidence = "the latest tag", Warn, lines
		f.Remediation = "name a version tag or a digest: latest changes under you"
	}
	r.Add(f)
}

func checkVolumes(r *Report, cfg v1.Config) {
	var lines []string
	for v := range cfg.Volumes {
		c := path.Clean("/" + v)
		for _, s := range []string{"/dev", "/proc", "/sys"} {
			if c == s || strings.HasPrefix(c, s+"/") {
				lines = append(lines, "VOLUME "+c)
			}
		}
	}
	f := Finding{ID: "IMG-SENSITIVE-VOLUME", Title: "no VOLUME on /dev, /proc or /sys", Severity: Medium, Result: Pass,
		Refs: []string{"DKL-DI-0002"}}
	if len(lines) > 0 {
		sort.Strings(lines)
		f.Title, f.Result, f.Evidence = "VOLUME on a sensitive directory", Warn, lines
		f.Remediation = "remove the VOLUME; mount what is needed at run time"
	}
	r.Add(f)
}

func (sc *imageScan) checkAccounts(r *Report) {
	var empty []string
	for _, line := range strings.Split(string(sc.content["/etc/shadow"]), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) >= 2 && fields[0] != "" && fields[1] == "" {
			empty = append(empty, "user "+fields[0]+" has an empty password in /etc/shadow")
		}
	}
	for _, line := range strings.Split(string(sc.content["/etc/passwd"]), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) >= 2 && fields[0] != "" && fields[1] == "" {
			empty = append(empty, "user "+fields[0]+" has an empty password in /etc/passwd")
		}
	}
	f := Finding{ID: "IMG-EMPTY-PASSWORD", Title: "no account with an empty password", Severity: High, Result: Pass,
		Refs: []string{"DKL-LI-0001"}}
	if len(empty) > 0 {
		f.Title, f.Result, f.Evidence = "accounts with an empty password", Fail, evidence(empty)
		f.Remediation = "lock the accounts (`passwd -l NAME`, or `!` or `*` in the password field)"
	}
	r.Add(f)

	var dups []string
	for _, file := range []string{"/etc/passwd", "/etc/group"} {
		seen := map[string][]string{}
		for _, line := range strings.Split(string(sc.content[file]), "\n") {
			fields := strings.Split(line, ":")
			if len(fields) >= 3 && fields[0] != "" {
				seen[fields[2]] = append(seen[fields[2]], fields[0])
			}
		}
		for id, names := range seen {
			if len(names) > 1 {
				dups = append(dups, fmt.Sprintf("%s: id %s is shared by %s", file, id, strings.Join(names, ", ")))
			}
		}
	}
	f = Finding{ID: "IMG-DUPLICATE-ID", Title: "user and group ids are unique", Severity: Medium, Result: Pass,
		Refs: []string{"DKL-LI-0002"}}
	if len(dups) > 0 {
		f.Title, f.Result, f.Evidence = "user or group ids shared by several names", Warn, evidence(dups)
		f.Remediation = "give each account an id of its own"
	}
	r.Add(f)
}

// unnecessary are files that only leak (DKL-LI-0003): version-control
// metadata, editor and desktop debris.
func (sc *imageScan) checkUnnecessary(r *Report) {
	var lines []string
	for _, p := range sc.sorted() {
		base := path.Base(p)
		switch {
		case (base == ".git" || base == ".svn" || base == ".hg") && sc.files[p].typ == tar.TypeDir,
			base == ".DS_Store", base == "Thumbs.db", strings.HasSuffix(base, ".swp") && strings.HasPrefix(base, "."):
			lines = append(lines, p)
		}
	}
	f := Finding{ID: "IMG-UNNECESSARY-FILES", Title: "no version-control or editor files", Severity: Low, Result: Pass,
		Refs: []string{"DKL-LI-0003"}}
	if len(lines) > 0 {
		f.Title, f.Result, f.Evidence = "version-control or editor files in the image", Warn, evidence(lines)
		f.Remediation = "add them to .dockerignore"
	}
	r.Add(f)
}
