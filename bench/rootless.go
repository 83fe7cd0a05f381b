package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// rootlessRun is measurement 10: `run` of one rootless bundle by an
// unprivileged user (-rootless-user), each runtime on the same
// config.json (`runc spec --rootless`'s, written as that user),
// interleaved run by run.
type rootlessRun struct {
	user    string
	lat     samples          // runtime name (and "setpriv") -> ms
	failed  map[string]error // a runtime that could not run it
	cmdline map[string]string
	err     error
}

var rootlessOrder = []string{"runc", "crun", "tirith"}

func (e *env) rootlessRuns(o *options) *rootlessRun {
	rr := &rootlessRun{user: o.rootlessUser, lat: samples{}, failed: map[string]error{}, cmdline: map[string]string{}}
	if o.rootlessUser == "" {
		rr.err = errors.New("not run: give -rootless-user USER, an unprivileged user with an /etc/subuid range")
		return rr
	}
	u, err := user.Lookup(o.rootlessUser)
	if err != nil {
		rr.err = err
		return rr
	}
	// A tree the user can reach: the work dir is root's own.
	dir, err := os.MkdirTemp("", "tirith-bench-rootless-")
	if err == nil {
		defer os.RemoveAll(dir)
		err = os.Chmod(dir, 0o755)
	}
	bundle := filepath.Join(dir, "bundle")
	bin := filepath.Join(dir, "tirith-runc")
	if err == nil {
		err = os.Mkdir(bundle, 0o755)
	}
	if err == nil {
		err = exec.Command("cp", "-a", e.rootfs, filepath.Join(bundle, "rootfs")).Run()
	}
	if err == nil {
		err = exec.Command("cp", e.tirith.bin, bin).Run()
	}
	if err == nil {
		err = exec.Command("chown", "-R", u.Uid+":"+u.Gid, dir).Run()
	}
	if err != nil {
		rr.err = fmt.Errorf("set up the rootless bundle: %w", err)
		return rr
	}
	as := func(args ...string) *exec.Cmd {
		cmd := exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--"}, args...)...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "XDG_RUNTIME_DIR=" + dir}
		return cmd
	}
	if res := e.execCmd(as(e.runc.bin, "spec", "--rootless", "--bundle", bundle), false); res.err != nil {
		rr.err = res.err
		return rr
	}
	if err := setArgs(filepath.Join(bundle, "config.json"), "/bin/true"); err != nil {
		rr.err = err
		return rr
	}
	bins := map[string]string{"runc": e.runc.bin, "crun": e.crun.bin, "tirith": bin}
	for _, name := range rootlessOrder {
		rr.cmdline[name] = fmt.Sprintf("setpriv --reuid=%s --regid=%s --clear-groups -- %s --root $D/%s-root run -b $D/bundle ID", o.rootlessUser, o.rootlessUser, filepath.Base(bins[name]), name)
	}
	for i := 0; i < o.n; i++ {
		for _, name := range rootlessOrder {
			if rr.failed[name] != nil {
				continue
			}
			res := e.execCmd(as(bins[name], "--root", filepath.Join(dir, name+"-root"), "run", "-b", bundle, "rl-"+strconv.Itoa(i)), false)
			if res.err != nil {
				rr.failed[name] = res.err
				continue
			}
			rr.lat.add(name, ms(res.d))
		}
		if res := e.execCmd(as("/bin/true"), false); res.err == nil {
			rr.lat.add("setpriv", ms(res.d))
		}
	}
	return rr
}

// setArgs makes config.json run args without a terminal.
func setArgs(path string, args ...string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	p, _ := m["process"].(map[string]any)
	if p == nil {
		return fmt.Errorf("%s: no process", path)
	}
	p["terminal"], p["args"] = false, args
	if b, err = json.MarshalIndent(m, "", "\t"); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (rr *rootlessRun) report() string {
	var b strings.Builder
	b.WriteString("## 10. Rootless run\n\n")
	if rr.err != nil {
		fmt.Fprintf(&b, "%v\n", rr.err)
		return b.String()
	}
	fmt.Fprintf(&b, "`run` of one bundle as the unprivileged user `%s`: `runc spec --rootless`'s config.json (written as that user: its own uid as root, no cgroup limits), args `/bin/true`, no terminal; each runtime with its own `--root`, interleaved run by run; `$D` is a directory of the user's:\n\n", rr.user)
	for _, name := range rootlessOrder {
		fmt.Fprintf(&b, "    %s\n", rr.cmdline[name])
	}
	b.WriteString("\n| runtime | run, ms | Tirith / it |\n|---|---|---|\n")
	t := med(rr.lat["tirith"])
	for _, name := range rootlessOrder {
		if err := rr.failed[name]; err != nil && len(rr.lat[name]) == 0 {
			fmt.Fprintf(&b, "| %s | failed: %s | |\n", name, strings.ReplaceAll(firstLine(err.Error()), "|", "/"))
			continue
		}
		r := ""
		if name != "tirith" && len(rr.lat["tirith"]) > 0 {
			r = ratio(t, med(rr.lat[name]))
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, spread(rr.lat[name], 1), r)
	}
	fmt.Fprintf(&b, "| (`setpriv -- /bin/true`, in every row) | %s | |\n\n", spread(rr.lat["setpriv"], 1))
	b.WriteString("Rootless, Tirith seals its binary in a memfd copy (an unprivileged caller may not clone a mount; see measurement 9), and runc 1.1 copies its own the same way. The front end's rootless cost (its re-execution into the per-user namespace) is in docs/rootless.md.\n")
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
