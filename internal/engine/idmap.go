package engine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// Wall 1 for front-end containers: each container gets its own range of
// host ids for its user namespace, and sees the image's files with their
// image owners through idmapped mounts of the shared layers.

// RangeSize is the number of ids mapped into each container: the full
// 16-bit range images expect.
const RangeSize = 65536

// defaultPoolStart is where container ranges are carved from when root
// has no /etc/subuid entry: high enough that no ordinary user's
// subordinate range starts there.
const defaultPoolStart = 1 << 31

// idPool returns the host ids container ranges come from: root's range in
// /etc/subuid (respected: nothing outside it is used), else a pool from
// 2^31 up, moved above any /etc/subuid entry it would overlap.
func idPool(subuid string) (start, size uint64) {
	entries := parseSubuid(subuid)
	for _, e := range entries {
		if (e.owner == "root" || e.owner == "0") && e.size >= RangeSize {
			return e.start, e.size
		}
	}
	start, end := uint64(defaultPoolStart), uint64(1<<32-1)
	for _, e := range entries {
		if e.start < end && e.start+e.size > start {
			start = e.start + e.size
		}
	}
	start = (start + RangeSize - 1) / RangeSize * RangeSize
	if start >= end {
		return 0, 0
	}
	return start, end - start
}

type subEntry struct {
	owner       string
	start, size uint64
}

func parseSubuid(path string) []subEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []subEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 {
			continue
		}
		s, err1 := strconv.ParseUint(p[1], 10, 32)
		n, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 == nil && err2 == nil && n > 0 {
			out = append(out, subEntry{p[0], s, n})
		}
	}
	return out
}

// allocRange picks the lowest range of the pool that no record uses.
// Preconditions: the caller holds the names lock (records don't change).
func allocRange(subuid string, used map[uint32]bool) (uint32, error) {
	start, size := idPool(subuid)
	for base := start; base+RangeSize <= start+size; base += RangeSize {
		if !used[uint32(base)] {
			return uint32(base), nil
		}
	}
	return 0, fmt.Errorf("no free range of %d host ids for a user namespace (pool %d+%d in use; see /etc/subuid)", RangeSize, start, size)
}

// idmapLayers attaches an idmapped view of each layer dir under dir
// (dir/0, dir/1, ...), mapped through a user namespace whose root is
// host uid base: a file owned by image uid N shows as host uid base+N,
// which is container uid N. The layers themselves stay shared and
// untouched. Only the runtime (host root) can make such mounts.
func idmapLayers(layers []string, dir string, base uint32) (paths []string, err error) {
	userns, err := newUserns(base)
	if err != nil {
		return nil, err
	}
	defer userns.Close()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unmountLayers(dir)
		}
	}()
	// nosuid: the layers' setuid binaries take effect, if at all,
	// through the container's overlay, whose own flags decide; these
	// mounts are only its lowers.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID, Userns_fd: uint64(userns.Fd())}
	for i, l := range layers {
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(p, 0o755); err != nil {
			return nil, err
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, l, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("idmap layer %s: open_tree: %w", l, err)
		}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
		if err == nil {
			err = unix.MoveMount(fd, "", unix.AT_FDCWD, p, unix.MOVE_MOUNT_F_EMPTY_PATH)
		}
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("idmap layer %s: %w", l, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// unmountLayers detaches the idmapped layers under dir.
func unmountLayers(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		_ = unmount(filepath.Join(dir, e.Name()))
	}
}

// newUserns returns a handle on a fresh user namespace mapping ids
// 0..RangeSize-1 to base..: made by a short-lived child of ours (a user
// namespace lives as long as a handle on it does).
func newUserns(base uint32) (*os.File, error) {
	cmd := exec.Command(procfs.SelfExe, HoldUsernsArg)
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: RangeSize}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: m, GidMappings: m}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace for id mapping: %w", err)
	}
	ns, err := os.Open(procfs.NS(cmd.Process.Pid, "user"))
	stdin.Close() // the holder exits on EOF
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace for id mapping: %w", err)
	}
	return ns, nil
}

// HoldUsernsArg is the hidden argument that makes the binary wait for
// EOF on stdin and exit (see newUserns); main dispatches it.
const HoldUsernsArg = "hold-userns"

// HoldUserns is the body of the hold-userns helper: wait for EOF.
func HoldUserns() {
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			os.Exit(0)
		}
	}
}
