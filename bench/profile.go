package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The landmark syscalls traced in `tirith run`: strace --seccomp-bpf stops
// only on these, so the timeline is close to an untraced run.
const landmarkCalls = "execve,clone,clone3,unshare,setns,pivot_root,exit_group,mount,mkdirat,unlinkat,wait4,waitid"

// phase is one slice of `tirith run`'s timeline.
type phase struct {
	name string
	from string // landmark names
	to   string
}

var phases = []phase{
	{"exec tirith, Go runtime start, CLI, load + validate config.json (until the first mkdir)", "start", "config"},
	{"state dir, cgroups, exec fifo, bind-mount of the binary, spawn the init", "config", "initexec"},
	{"init exec (static binary, no loader) + C constructor (nsenter), join cgroups, unshare", "initexec", "unshare"},
	{"fork into the pid ns, Go runtime start in the init, until the first mount", "unshare", "mount"},
	{"rootfs mounts (/proc, /dev, /sys, cgroup binds, devices) until pivot_root", "mount", "pivot"},
	{"pivot_root to execve of the payload (ro paths, masks, caps, re-exec as the lean init, start handshake)", "pivot", "payload"},
	{"payload runs (/bin/true)", "payload", "payloadexit"},
	{"wait + delete (state, cgroup rmdir, state dir) until tirith exits", "payloadexit", "end"},
}

// profileResult is the "where the time goes" data.
type profileResult struct {
	runs       int
	phaseMs    map[string][]float64 // by phase name
	totalMs    []float64
	mounts     []float64 // mount calls in the container init
	counts     map[string]sysCount
	skipReason string
}

type sysCount struct {
	total, clones, execs, futex, sleeps, mounts int
	by                                          map[string]int // calls by syscall name
}

// mountCalls are the syscalls that make, change or move mounts.
var mountCalls = map[string]bool{"mount": true, "umount2": true, "move_mount": true, "open_tree": true, "fsopen": true,
	"fsconfig": true, "fsmount": true, "mount_setattr": true, "pivot_root": true}

func (e *env) profile(o *options) *profileResult {
	p := &profileResult{phaseMs: map[string][]float64{}, counts: map[string]sysCount{}}
	st, err := exec.LookPath("strace")
	if !o.profile {
		p.skipReason = "skipped (-profile=false)"
		return p
	}
	if err != nil {
		p.skipReason = "skipped: strace not installed (`apt-get install strace`)"
		return p
	}
	logf("profile: strace timelines of tirith run")
	for i := 0; i < 7; i++ {
		out := filepath.Join(e.dir, fmt.Sprintf("strace-%d.txt", i))
		id := fmt.Sprintf("tirith-prof%d", i)
		cmd := exec.Command(st, "-f", "--seccomp-bpf", "-ttt", "-o", out, "-e", "trace="+landmarkCalls,
			e.tirith.bin, "--root", e.tirith.root, "run", "--bundle", e.bundles[vTrue], id)
		if res := e.execCmd(cmd, false); res.err != nil {
			p.skipReason = "failed: " + res.err.Error()
			return p
		}
		marks, mounts, err := landmarks(out)
		if err != nil {
			p.skipReason = "failed: " + err.Error()
			return p
		}
		if i < 2 {
			continue // warm-up
		}
		p.runs++
		for _, ph := range phases {
			a, okA := marks[ph.from]
			b, okB := marks[ph.to]
			if okA && okB {
				p.phaseMs[ph.name] = append(p.phaseMs[ph.name], (b-a)*1000)
			}
		}
		p.totalMs = append(p.totalMs, (marks["end"]-marks["start"])*1000)
		p.mounts = append(p.mounts, float64(mounts))
	}

	// Whole-run syscall counts per runtime (full strace -c: slow, counts only).
	logf("profile: syscall counts (strace -f -c) per runtime")
	for _, r := range e.rts {
		out := filepath.Join(e.dir, "strace-c-"+r.name+".txt")
		cmd := exec.Command(st, "-f", "-c", "-o", out, r.bin, "--root", r.root, "run", "--bundle", e.bundles[vTrue], r.name+"-count")
		if res := e.execCmd(cmd, false); res.err != nil {
			continue
		}
		p.counts[r.name] = countSyscalls(out)
	}
	return p
}

// landmarks reads an strace -f -ttt log and returns the landmark times.
func landmarks(path string) (map[string]float64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	m := map[string]float64{}
	first := func(k string, t float64) {
		if _, ok := m[k]; !ok {
			m[k] = t
		}
	}
	var initPid, payloadPid, mounts int
	var last float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// "PID  SECONDS.USEC call(...) = ret" (the pid may be padded).
		pidS, rest, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		tS, rest, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		pid, err1 := strconv.Atoi(pidS)
		t, err2 := strconv.ParseFloat(tS, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		last = t
		first("start", t)
		call, _, _ := strings.Cut(rest, "(")
		switch {
		case call == "mkdirat":
			first("config", t)
		case call == "execve" && strings.Contains(rest, "\"init\"]"):
			if initPid == 0 {
				initPid = pid
			}
			first("initexec", t)
		case call == "unshare" && initPid != 0:
			first("unshare", t)
		case call == "mount" && initPid != 0 && pid != initPid && m["unshare"] != 0:
			mounts++
			first("mount", t)
		case call == "pivot_root":
			first("pivot", t)
		case call == "execve" && strings.HasPrefix(rest, "execve(\"/bin/true\""):
			payloadPid = pid
			first("payload", t)
		case payloadPid != 0 && pid == payloadPid && strings.HasPrefix(rest, "+++ exited"):
			first("payloadexit", t)
		}
	}
	m["end"] = last
	for _, k := range []string{"config", "initexec", "unshare", "mount", "pivot", "payload", "payloadexit"} {
		if _, ok := m[k]; !ok {
			return m, mounts, fmt.Errorf("%s: landmark %q not found", path, k)
		}
	}
	return m, mounts, sc.Err()
}

// countSyscalls reads strace -c output.
func countSyscalls(path string) sysCount {
	c := sysCount{by: map[string]int{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		name := f[len(f)-1]
		calls, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		if name != "total" {
			c.by[name] = calls
		}
		if mountCalls[name] {
			c.mounts += calls
		}
		switch name {
		case "total":
			c.total = calls
		case "clone", "clone3", "vfork", "fork":
			c.clones += calls
		case "execve", "execveat":
			c.execs += calls
		case "futex":
			c.futex += calls
		case "nanosleep", "clock_nanosleep":
			c.sleeps += calls
		}
	}
	return c
}
