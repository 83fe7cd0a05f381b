package landlock

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// fileID names a file by identity rather than by path: a noExecute
// directory reached by another name (a symlink, a second bind mount of
// the same host directory) is still the same directory. Landlock's own
// rules are tied to inodes too.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), st.Ino} }

// grantFunc receives one rule to add: fd is an O_PATH descriptor of the
// object (valid only during the call), path its name for messages, dir
// whether it is a directory, exec whether the rule carries EXECUTE (false:
// a directory on the way to a noExecute path, which stays readable).
type grantFunc func(fd int, path string, dir, exec bool) error

// walkExecute expands the execute paths minus the noExecute paths into
// rules, against the filesystem as it is now (the container's mounts, once
// the init has pivoted into them). From each execute path: an object with
// no noExecute path beneath it gets one rule for all of itself; one with
// a noExecute path beneath it gets a read-only rule and is descended into,
// entry by entry; a noExecute path gets nothing. Symlinks are never
// followed while walking (what they point at is reached on its own, or is
// outside the execute paths); the walk goes from descriptor to descriptor,
// so a directory renamed meanwhile cannot redirect a rule. It returns the
// execute paths that do not exist.
func walkExecute(execute, noExecute []string, grant grantFunc) ([]string, error) {
	excluded, holds := noExecuteSets(noExecute)
	var skipped []string
	for _, e := range execute {
		real, err := filepath.EvalSymlinks(e)
		if errors.Is(err, os.ErrNotExist) {
			skipped = append(skipped, e)
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "landlock: resolve", Path: e, Err: errors.Unwrap(err)}
		}
		fd, err := unix.Open(real, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			skipped = append(skipped, e)
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "landlock: open", Path: real, Err: err}
		}
		err = visit(fd, real, excluded, holds, grant)
		unix.Close(fd)
		if err != nil {
			return nil, err
		}
	}
	return skipped, nil
}

// noExecuteSets resolves the noExecute paths to the identities of the
// paths themselves (excluded) and of every directory above them (holds).
// A path that does not exist excludes nothing: creating it needs a
// writable parent, which is itself either noExecute or writable rootfs
// (whose writes are executable by choice). A path that cannot be
// resolved for another reason (a directory on the way the caller may not
// search) excludes its deepest resolvable ancestor instead: fail closed,
// and nothing beneath that ancestor was reachable by the caller anyway.
func noExecuteSets(noExecute []string) (excluded, holds map[fileID]bool) {
	excluded, holds = map[fileID]bool{}, map[fileID]bool{}
	for _, n := range noExecute {
		p := filepath.Clean(n)
		for {
			real, err := filepath.EvalSymlinks(p)
			if err == nil {
				var st unix.Stat_t
				if unix.Stat(real, &st) == nil {
					excluded[idOf(&st)] = true
					for d := filepath.Dir(real); ; d = filepath.Dir(d) {
						if unix.Stat(d, &st) == nil {
							holds[idOf(&st)] = true
						}
						if d == "/" {
							break
						}
					}
				}
				break
			}
			if errors.Is(err, os.ErrNotExist) || p == "/" {
				break
			}
			p = filepath.Dir(p)
		}
	}
	return excluded, holds
}

func visit(fd int, path string, excluded, holds map[fileID]bool, grant grantFunc) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "landlock: stat", Path: path, Err: err}
	}
	id, isDir := idOf(&st), st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case excluded[id]:
		return nil
	case !holds[id] || !isDir:
		return grant(fd, path, isDir, true)
	}
	if err := grant(fd, path, true, false); err != nil {
		return err
	}
	names, err := readDirNames(fd)
	if err != nil {
		// Unlistable by the caller: nothing beneath gets EXECUTE (the
		// read-only rule above is all), which only ever grants less.
		return nil
	}
	for _, name := range names {
		cfd, err := unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			// Gone meanwhile, or not ours to reach: no rule.
			continue
		}
		var cst unix.Stat_t
		if unix.Fstat(cfd, &cst) == nil && cst.Mode&unix.S_IFMT != unix.S_IFLNK {
			err = visit(cfd, strings.TrimSuffix(path, "/")+"/"+name, excluded, holds, grant)
		}
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists the directory behind an O_PATH fd, sorted (so the
// rules, and any error, come in a stable order).
func readDirNames(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dfd), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// Refusal explains why the policy refuses to execute path, as the
// caller's filesystem shows it now: refused, and the noExecute path it
// lies beneath, or "" when it lies beneath no execute path. The deepest
// listed path above the file decides; at equal depth noExecute wins.
func (p *Policy) Refusal(path string) (noExec string, refused bool) {
	real := resolve(path)
	depth, allowed := -1, false
	for _, e := range p.Execute {
		if r := resolve(e); beneath(real, r) && len(r) > depth {
			depth, allowed, noExec = len(r), true, ""
		}
	}
	for _, n := range p.NoExecute {
		if r := resolve(n); beneath(real, r) && len(r) >= depth {
			depth, allowed, noExec = len(r), false, n
		}
	}
	return noExec, !allowed
}

// resolve is the path with symlinks resolved, or cleaned if it cannot be.
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

func beneath(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
