package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is one command's outcome.
type result struct {
	d      time.Duration
	maxrss int64 // ru_maxrss of the command (KiB): itself and its waited-for descendants
	out    []byte
	err    error
}

// exec runs the runtime with --root; stdout and stderr go to a file (not a
// pipe: a detached container would hold a pipe open), read back only on
// error or when out is wanted.
func (e *env) exec(r *rt, wantOut bool, args ...string) result {
	return e.execCmd(exec.Command(r.bin, append([]string{"--root", r.root}, args...)...), wantOut)
}

func (e *env) execCmd(cmd *exec.Cmd, wantOut bool) result {
	f, err := os.CreateTemp(e.dir, "out-")
	if err != nil {
		return result{err: err}
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	t0 := time.Now()
	err = cmd.Run()
	res := result{d: time.Since(t0), err: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.maxrss = ru.Maxrss
		}
	}
	if err != nil || wantOut {
		res.out, _ = os.ReadFile(f.Name())
		if err != nil {
			res.err = fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(res.out))
		}
	}
	return res
}

// samples collects durations or sizes by key.
type samples map[string][]float64

func (s samples) add(key string, v float64) { s[key] = append(s[key], v) }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// lifecycle is measurement 1 (and the memory figures of 4).
type lifecycle struct {
	lat samples // "runc/run" ... in ms
	mem samples // "runc/create" ... in KiB
}

func (e *env) lifecycle(o *options) (*lifecycle, error) {
	l := &lifecycle{lat: samples{}, mem: samples{}}
	for i := 0; i < o.n; i++ {
		if i%10 == 0 {
			logf("lifecycle: run %d/%d", i+1, o.n)
		}
		for _, r := range e.rts {
			if err := e.lifecycleOnce(l, r, i); err != nil {
				return nil, err
			}
		}
		res := e.execCmd(exec.Command("unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "/bin/true"), false)
		if res.err != nil {
			return nil, res.err
		}
		l.lat.add("floor", ms(res.d))
	}
	return l, nil
}

func (e *env) lifecycleOnce(l *lifecycle, r *rt, i int) error {
	b := e.bundles[vTrue]
	// run in the foreground: create, start, wait, delete in one command
	// (crun 1.8 has no run --keep, so every runtime deletes by itself).
	id := fmt.Sprintf("%s-l%d", r.name, i)
	run := e.exec(r, false, "run", "--bundle", b, id)
	if run.err != nil {
		return run.err
	}
	l.lat.add(r.name+"/run", ms(run.d))
	l.mem.add(r.name+"/run", float64(run.maxrss))

	// create; start; wait for stopped; delete.
	id = fmt.Sprintf("%s-s%d", r.name, i)
	cr := e.exec(r, false, "create", "--bundle", b, id)
	if cr.err != nil {
		return cr.err
	}
	pid, status, err := e.state(r, id)
	if err != nil {
		return err
	}
	if status != "created" {
		return fmt.Errorf("%s: %s is %q after create", r.name, id, status)
	}
	rss, hwm := procRSS(pid)
	st := e.exec(r, false, "start", id)
	if st.err != nil {
		return st.err
	}
	t0 := time.Now()
	if err := waitGone(pid, 10*time.Second); err != nil {
		return fmt.Errorf("%s %s: %w", r.name, id, err)
	}
	for {
		_, status, err := e.state(r, id)
		if err != nil {
			return err
		}
		if status == "stopped" {
			break
		}
		if time.Since(t0) > 10*time.Second {
			return fmt.Errorf("%s %s: still %q 10s after start", r.name, id, status)
		}
		time.Sleep(time.Millisecond)
	}
	dl := e.exec(r, false, "delete", id)
	if dl.err != nil {
		return dl.err
	}
	l.lat.add(r.name+"/create", ms(cr.d))
	l.lat.add(r.name+"/start", ms(st.d))
	l.lat.add(r.name+"/delete", ms(dl.d))
	l.lat.add(r.name+"/create+start+delete", ms(cr.d+st.d+dl.d))
	l.mem.add(r.name+"/create", float64(cr.maxrss))
	l.mem.add(r.name+"/start", float64(st.maxrss))
	l.mem.add(r.name+"/init-rss", float64(rss))
	l.mem.add(r.name+"/init-hwm", float64(hwm))

	v := e.exec(r, false, "--version")
	if v.err != nil {
		return v.err
	}
	l.lat.add(r.name+"/version", ms(v.d))
	return nil
}

// state returns the container's pid and status.
func (e *env) state(r *rt, id string) (int, string, error) {
	res := e.exec(r, true, "state", id)
	if res.err != nil {
		return 0, "", res.err
	}
	var s struct {
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res.out, &s); err != nil {
		return 0, "", fmt.Errorf("%s state %s: %v: %s", r.name, id, err, res.out)
	}
	return s.Pid, s.Status, nil
}

// procRSS returns VmRSS and VmHWM of pid in KiB.
func procRSS(pid int) (rss, hwm int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(l, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// waitGone waits until pid has exited (gone or a zombie).
func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if i := bytes.LastIndexByte(data, ')'); i > 0 && len(data) > i+2 && data[i+2] == 'Z' {
			return nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return fmt.Errorf("pid %d still alive after %v", pid, timeout)
}

// seccompLat is measurement 2: run with a profile.
func (e *env) seccompLat(o *options) (samples, error) {
	s := samples{}
	combos := []struct {
		key string
		r   *rt
		v   string
	}{
		{"tirith+tirith", e.tirith, vTrueTirith},
		{"tirith+moby", e.tirith, vTrueMoby},
		{"runc+moby", e.runc, vTrueMoby},
		{"crun+moby", e.crun, vTrueMoby},
	}
	for i := 0; i < o.n; i++ {
		if i%10 == 0 {
			logf("seccomp lifecycle: run %d/%d", i+1, o.n)
		}
		for _, c := range combos {
			id := fmt.Sprintf("%s-sc%s%d", c.r.name, strings.TrimPrefix(c.v, "true-"), i)
			run := e.exec(c.r, false, "run", "--bundle", e.bundles[c.v], id)
			if run.err != nil {
				return nil, run.err
			}
			s.add(c.key+"/run", ms(run.d))
		}
	}
	return s, nil
}

// syscallCost is measurement 3: ns/op per syscall, the minimum over
// repetitions, by "runtime/profile" then syscall; filters holds the
// Seccomp_filters count the helper saw.
type syscallCost struct {
	ns      map[string]map[string]float64
	filters map[string]string
}

var scNames = []string{"read", "getppid", "getrandom", "membarrier"}

func (e *env) syscallCost(o *options) (*syscallCost, error) {
	sc := &syscallCost{ns: map[string]map[string]float64{}, filters: map[string]string{}}
	profiles := []struct{ name, v string }{{"none", vSCNone}, {"moby", vSCMoby}, {"tirith", vSCTirith}}
	for rep := 0; rep < o.scRep; rep++ {
		logf("syscall cost: repetition %d/%d", rep+1, o.scRep)
		for _, p := range profiles {
			for _, r := range e.rts {
				id := fmt.Sprintf("%s-sb%s%d", r.name, p.name, rep)
				res := e.exec(r, true, "run", "--bundle", e.bundles[p.v], id)
				if res.err != nil {
					return nil, res.err
				}
				key := r.name + "/" + p.name
				if sc.ns[key] == nil {
					sc.ns[key] = map[string]float64{}
				}
				for _, l := range strings.Split(string(res.out), "\n") {
					f := strings.Fields(l)
					if len(f) == 3 && f[0] == "seccomp" {
						sc.filters[key] = "mode " + f[1] + ", " + f[2] + " filter(s)"
						continue
					}
					if len(f) != 2 {
						continue
					}
					v, err := strconv.ParseFloat(f[1], 64)
					if err != nil {
						continue
					}
					if old, ok := sc.ns[key][f[0]]; !ok || v < old {
						sc.ns[key][f[0]] = v
					}
				}
				if len(sc.ns[key]) != len(scNames) {
					return nil, fmt.Errorf("%s: syscallbench printed %q", key, res.out)
				}
			}
		}
	}
	return sc, nil
}

// leftovers is measurement 4b: runtime processes beside a running
// container's payload.
type leftover struct {
	count int
	rss   int64 // KiB
	what  []string
}

func (e *env) leftovers() (map[string]leftover, error) {
	out := map[string]leftover{}
	for _, r := range e.rts {
		before := pids()
		id := r.name + "-left"
		res := e.exec(r, false, "run", "--detach", "--bundle", e.bundles[vSleep], id)
		if res.err != nil {
			return nil, res.err
		}
		payload, status, err := e.state(r, id)
		if err != nil {
			return nil, err
		}
		if status != "running" {
			return nil, fmt.Errorf("%s: %s is %q after run --detach", r.name, id, status)
		}
		var lo leftover
		for p := range pids() {
			if before[p] || p == payload {
				continue
			}
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			name := strings.TrimSpace(string(comm))
			if !strings.Contains(filepath.Base(exe), r.name) && !strings.Contains(name, r.name) {
				continue // someone else's process
			}
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err != nil ||
				bytes.Contains(stat, []byte(") Z ")) {
				continue // gone, or a zombie: nothing resident
			}
			rss, _ := procRSS(p)
			lo.count++
			lo.rss += rss
			lo.what = append(lo.what, fmt.Sprintf("%d %s (%d KiB)", p, name, rss))
		}
		out[r.name] = lo
		if res := e.exec(r, false, "delete", "--force", id); res.err != nil {
			return nil, res.err
		}
	}
	return out, nil
}

func pids() map[int]bool {
	m := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			m[n] = true
		}
	}
	return m
}

// concurrency is measurement 5: wall time (s) for o.conc run --detach in
// parallel, then as many delete --force.
func (e *env) concurrency(o *options) (samples, error) {
	s := samples{}
	for rep := 0; rep < o.concRep; rep++ {
		logf("concurrency: repetition %d/%d (%d containers per runtime)", rep+1, o.concRep, o.conc)
		for _, r := range e.rts {
			ids := make([]string, o.conc)
			for k := range ids {
				ids[k] = fmt.Sprintf("%s-c%d-%d", r.name, rep, k)
			}
			up, upErr := e.parallel(r, ids, func(id string) []string {
				return []string{"run", "--detach", "--bundle", e.bundles[vSleep], id}
			})
			down, downErr := e.parallel(r, ids, func(id string) []string {
				return []string{"delete", "--force", id}
			})
			if upErr != nil {
				return nil, upErr
			}
			if downErr != nil {
				return nil, downErr
			}
			s.add(r.name+"/up", up.Seconds())
			s.add(r.name+"/down", down.Seconds())
		}
	}
	return s, nil
}

func (e *env) parallel(r *rt, ids []string, args func(string) []string) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	t0 := time.Now()
	for k, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = e.exec(r, false, args(id)...).err
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return d, err
		}
	}
	return d, nil
}
