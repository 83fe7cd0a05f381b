// Package rootless lets an unprivileged user run the front end. Every
// such `tirith` command re-executes itself inside one user and mount
// namespace per user, made once and held by a pause process (as podman
// does): the caller is root there, and its /etc/subuid and /etc/subgid
// ranges (mapped by Debian's newuidmap/newgidmap) are the other ids. In
// there images unpack with their files' owners, overlays mount, and a
// later command (exec, stop, rm) reaches the containers an earlier one
// made. What only host root can do stays out: cgroups not delegated to
// the user, bridge networks, idmapped mounts.
package rootless

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/userns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/subid"
)

// envUID marks a command running inside the namespace, with the
// caller's host uid (inherited by everything it starts).
const envUID = "_TIRITH_ROOTLESS_UID"

// Environment variables read by internal/nsenter/rootless.c.
const (
	envJoin  = "_TIRITH_ROOTLESS_JOIN"
	envPause = "_TIRITH_ROOTLESS_PAUSE"
)

// Active reports whether this process is the rootless front end:
// unprivileged, or inside the namespace it entered.
func Active() bool { return os.Geteuid() != 0 || Inside() }

// Inside reports whether this process runs in the rootless namespace.
func Inside() bool { return os.Getenv(envUID) != "" && userns.RunningInUserNS() }

// HostUID is the caller's own uid on the host.
func HostUID() int {
	if Inside() {
		if uid, err := strconv.Atoi(os.Getenv(envUID)); err == nil {
			return uid
		}
	}
	return os.Geteuid()
}

// RuntimeDir is $XDG_RUNTIME_DIR, else /run/user/UID if it exists, else
// a directory of the user's own under the temporary directory.
func RuntimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return d
	}
	uid := strconv.Itoa(HostUID())
	if d := filepath.Join("/run/user", uid); dirExists(d) {
		return d
	}
	return filepath.Join(os.TempDir(), "tirith-run-"+uid)
}

// DataDir is the front end's store for an unprivileged user:
// $XDG_DATA_HOME/tirith, by default ~/.local/share/tirith.
func DataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "tirith")
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/nonexistent"
	}
	return filepath.Join(home, ".local", "share", "tirith")
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Enter re-executes the running command inside the caller's rootless
// namespace, making the namespace first if no pause process holds it.
// It returns only on error; as root, or inside already, it does nothing.
func Enter() error {
	if os.Geteuid() == 0 {
		return nil
	}
	// The ranges first: without them nothing is made (no runtime dir).
	uids, gids, err := ranges()
	if err != nil {
		return err
	}
	pid, err := pauseProcess(uids, gids)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), envJoin+"="+strconv.Itoa(pid), envUID+"="+strconv.Itoa(os.Geteuid()))
	return fmt.Errorf("rootless: re-execute in the user namespace: %w", syscall.Exec(self, os.Args, env))
}

// ownDir makes (or checks) a directory of the caller's own, 0700: one
// that another user made first, or opened up, is refused.
func ownDir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(d, &st); err != nil {
		return err
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o077 != 0 {
		return fmt.Errorf("%s: not a directory of uid %d's own with mode 0700: refusing to keep rootless state there", d, os.Geteuid())
	}
	return nil
}

// pauseProcess returns the pid of the caller's live pause process,
// starting one if there is none. The pid file holds "PID STARTTIME", so
// a recycled pid is not mistaken for it.
func pauseProcess(uids, gids []string) (int, error) {
	dir := RuntimeDir()
	if err := ownDir(dir); err != nil {
		return 0, fmt.Errorf("rootless: runtime dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "tirith-pause.pid"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, fmt.Errorf("rootless: pause pid file: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return 0, os.NewSyscallError("flock", err)
	}
	if old, err := io.ReadAll(f); err == nil {
		if pid := procfs.StampedPid(old); pid > 0 {
			return pid, nil
		}
	}
	pid, err := startPause(uids, gids)
	if err != nil {
		return 0, err
	}
	stamp, err := procfs.PidStamp(pid)
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(stamp, 0); err != nil {
		return 0, err
	}
	return pid, nil
}

// startPause starts the pause process in a new user and mount namespace
// and maps the caller and its subordinate ranges into it.
func startPause(uids, gids []string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = []string{envPause + "=1"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("rootless: start the pause process: %w", err)
	}
	pid := cmd.Process.Pid
	// Not waited for: it outlives this command, reparented to init.
	_ = cmd.Process.Release()
	err = MapIDs(pid, "uid_map", uids)
	if err == nil {
		err = MapIDs(pid, "gid_map", gids)
	}
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return 0, fmt.Errorf("rootless: map ids into the user namespace: %w", err)
	}
	return pid, nil
}

// MapIDs writes file ("uid_map" or "gid_map") of process pid through the
// setuid helper (newuidmap or newgidmap), which lets an unprivileged
// user map what /etc/subuid or /etc/subgid grants it; args are
// CONTAINER-ID HOST-ID COUNT triples.
func MapIDs(pid int, file string, args []string) error {
	helper := "newuidmap"
	if file == "gid_map" {
		helper = "newgidmap"
	}
	path, err := exec.LookPath(helper)
	if err != nil {
		return fmt.Errorf("an unprivileged user maps more than its own id only through %s (Debian's uidmap package: apt-get install uidmap): %w", helper, err)
	}
	out, err := exec.Command(path, append([]string{strconv.Itoa(pid)}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %d %s: %w: %s", helper, pid, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ranges are the newuidmap and newgidmap arguments for the caller.
func ranges() (uids, gids []string, err error) {
	user, err := userName()
	if err != nil {
		return nil, nil, err
	}
	if uids, err = subRange("/etc/subuid", user, os.Geteuid()); err != nil {
		return nil, nil, err
	}
	if gids, err = subRange("/etc/subgid", user, os.Getegid()); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

func userName() (string, error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "", err
	}
	defer f.Close()
	uid := strconv.Itoa(os.Geteuid())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.Split(sc.Text(), ":"); len(p) > 3 && p[2] == uid {
			return p[0], nil
		}
	}
	return "", fmt.Errorf("rootless: uid %s has no name in /etc/passwd (needed to find its /etc/subuid range)", uid)
}

// subRange is the id map for newuidmap/newgidmap: own id as 0, then the
// user's first subordinate range (by name or number) from 1.
func subRange(file, user string, own int) ([]string, error) {
	r, ok := subid.First(file, user, own)
	if !ok {
		return nil, fmt.Errorf("rootless: %s has no range for %s: the containers' users need one (e.g. usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", file, user, user)
	}
	return []string{"0", strconv.Itoa(own), "1", "1", strconv.FormatUint(r.Start, 10), strconv.FormatUint(r.Size, 10)}, nil
}

// IdentityMap maps a container's user namespace onto the rootless
// namespace's ids as they are: one extent per extent of file
// ("uid_map" or "gid_map") of this process, since the kernel takes an
// extent only where it lies within one extent of the parent's map.
func IdentityMap(file string) ([]specs.LinuxIDMapping, error) {
	b, err := os.ReadFile(filepath.Join("/proc/self", file))
	if err != nil {
		return nil, err
	}
	var out []specs.LinuxIDMapping
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rootless: malformed %s line %q", file, line)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: uint32(in), HostID: uint32(in), Size: uint32(n)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rootless: empty %s", file)
	}
	return out, nil
}

// OverlayXattrPrefix is where overlayfs keeps its markers (opaque
// directories): trusted.* for host root, user.* in the rootless
// namespace, where only the overlay option userxattr works.
func OverlayXattrPrefix() string {
	if Inside() {
		return "user.overlay."
	}
	return "trusted.overlay."
}
