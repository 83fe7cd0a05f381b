// Command bench compares Tirith with runc and crun on one bundle, in one
// run, and writes BENCHMARKS.md:
//
//	go run ./bench            # full run (-n 50)
//	go run ./bench -quick     # -n 10, fewer repetitions
//	go run ./bench -frontend-only -n 10   # only tirith run vs podman run, printed
//	go run ./bench -images-only           # only import and pull vs podman, printed
//
// It needs root, runc, crun and util-linux's unshare; podman is optional (it installs
// nothing). It re-executes itself under `unshare --mount --propagation
// private` and, in that private mount namespace, bind-mounts an empty file
// over /sys/fs/cgroup/unified/cgroup.controllers: crun 1.8 refuses a hybrid
// cgroup host whose unified hierarchy lists a controller, so every runtime
// runs in that same namespace, alike.
//
// Measurements, runtimes interleaved run by run (A B C A B C ...), each
// runtime with its own --root:
//
//  1. lifecycle latency: a foreground run (create, start, wait, delete; crun
//     1.8 has no run --keep) of a container running /bin/true; create,
//     start and delete separately; the floor
//     (`unshare --fork --pid --mount --uts --ipc --net /bin/true`) and each
//     binary's `--version` (process start-up);
//  2. the same with seccomp: Tirith's default profile and moby's default;
//  3. per-syscall cost inside the container, without a filter and with
//     each profile (bench/syscallbench);
//  4. memory: peak RSS (wait4's ru_maxrss) of the create and start
//     commands, RSS of the created-but-not-started init, and any runtime
//     process left beside a running container;
//  5. -c containers started concurrently (run --detach), then deleted
//     (delete --force);
//  6. where Tirith's time goes: a low-overhead strace timeline of
//     `tirith run` (strace --seccomp-bpf, only the landmark syscalls), if
//     strace is installed;
//  7. the front ends: `tirith run --rm IMAGE /bin/true` against
//     `podman run --rm --network none IMAGE /bin/true` on one image (the
//     bundle's rootfs as a docker-archive, loaded into both), and
//     `tirith run --rm tirith/demo`; podman is optional (the section says
//     how to install it when it is missing), with a throw-away
//     --root/--runroot/--tmpdir under the work dir (bench/podman.go);
//  8. images: `tirith import` vs `podman import` of one Debian rootfs tar
//     (-debian-tar, default the real-image tests' cached one), and
//     `tirith pull` vs `podman pull` of it from an in-process registry on
//     127.0.0.1 (bench/images.go);
//  9. the runtime binary seal's cost per create (bench/seal.go).
//  10. rootless `run` by an unprivileged user (bench/rootless.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

const innerEnv = "TIRITH_BENCH_INNER"

type options struct {
	n       int    // lifecycle runs per runtime
	conc    int    // concurrent containers
	concRep int    // repetitions of the concurrency test
	iters   int    // syscall loop iterations
	scRep   int    // repetitions of the syscall test
	out     string // markdown file ("" or "-": none)
	keep    bool   // keep the work dir
	profile bool   // strace profile of tirith
	quick   bool
	// frontEndOnly runs only measurement 7 and prints it (no report file).
	frontEndOnly bool
	// imagesOnly runs only measurement 8 and prints it.
	imagesOnly bool
	debianTar  string // rootfs tar for measurement 8 ("" = newest cached)
	imgRuns    int    // runs of each import and pull
	// rootlessUser runs measurement 10 ("" skips it).
	rootlessUser string
	args         []string // the command line, for the report
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 50, "lifecycle runs per runtime and variant")
	flag.IntVar(&o.conc, "c", 50, "containers started concurrently")
	flag.IntVar(&o.concRep, "c-reps", 3, "repetitions of the concurrency test")
	flag.IntVar(&o.iters, "iters", 2_000_000, "syscall loop iterations in the container")
	flag.IntVar(&o.scRep, "sc-reps", 3, "repetitions of the syscall test (the minimum is reported)")
	flag.StringVar(&o.out, "o", "BENCHMARKS.md", `markdown report ("-" for stdout only)`)
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, bundle, state)")
	flag.BoolVar(&o.profile, "profile", true, "profile tirith with strace (skipped if strace is missing)")
	flag.BoolVar(&o.quick, "quick", false, "quick mode: -n 10, one repetition of the concurrency and syscall tests, 1e6 iterations")
	flag.BoolVar(&o.frontEndOnly, "frontend-only", false, "run only the tirith run vs podman run section and print it (BENCHMARKS.md is not written)")
	flag.BoolVar(&o.imagesOnly, "images-only", false, "run only the import and pull vs podman section and print it (BENCHMARKS.md is not written)")
	flag.StringVar(&o.debianTar, "debian-tar", "", "Debian rootfs tar for the images section (default: the newest "+debianTarGlob+")")
	flag.IntVar(&o.imgRuns, "image-runs", 3, "runs of each import and pull in the images section")
	flag.StringVar(&o.rootlessUser, "rootless-user", "", "unprivileged user (with an /etc/subuid range) for the rootless run section")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["n"] {
			o.n = 10
		}
		if !set["c-reps"] {
			o.concRep = 1
		}
		if !set["sc-reps"] {
			o.scRep = 1
		}
		if !set["iters"] {
			o.iters = 1_000_000
		}
	}
	o.args = os.Args[1:]
	if o.n < 1 || o.conc < 1 || o.concRep < 1 || o.iters < 1 || o.scRep < 1 || o.imgRuns < 1 {
		fatalf("-n, -c, -c-reps, -iters, -sc-reps and -image-runs must be positive")
	}
	if o.frontEndOnly && o.imagesOnly {
		fatalf("-frontend-only and -images-only exclude each other")
	}

	if os.Getenv(innerEnv) != "1" {
		os.Exit(reexec())
	}
	if err := run(&o); err != nil {
		fatalf("%v", err)
	}
}

// reexec checks the prerequisites and runs this binary again in a private
// mount namespace.
func reexec() int {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		fatalf("the benchmark runs on linux/amd64 only (syscallbench uses x86_64 numbers)")
	}
	if os.Geteuid() != 0 {
		fatalf("run as root: container runtimes need it")
	}
	var missing []string
	for _, rt := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(rt); err != nil {
			missing = append(missing, rt)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %s not found in $PATH; install with:\n\n    apt-get install runc crun\n\n",
			strings.Join(missing, " and "))
		return 2
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: unshare (util-linux) not found; install with:\n\n    apt-get install util-linux\n\n")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fatalf("unshare: %v", err)
	}
	return 0
}

// hideUnifiedControllers makes /sys/fs/cgroup/unified/cgroup.controllers
// read empty in this (private) mount namespace; see the package comment.
func hideUnifiedControllers(dir string) (string, error) {
	const f = "/sys/fs/cgroup/unified/cgroup.controllers"
	data, err := os.ReadFile(f)
	if err != nil || strings.TrimSpace(string(data)) == "" {
		return "", nil // not hybrid, or nothing listed: nothing to hide
	}
	empty := dir + "/empty"
	if err := os.WriteFile(empty, nil, 0o444); err != nil {
		return "", err
	}
	if err := unix.Mount(empty, f, "", unix.MS_BIND, ""); err != nil {
		return "", fmt.Errorf("bind-mount empty file over %s: %w", f, err)
	}
	return strings.TrimSpace(string(data)), nil
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(1)
}
