package unpack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

type unpacker struct {
	ctx   context.Context
	root  *os.File // O_PATH handle on the target directory
	opts  Options
	res   *Result
	total int64
	buf   []byte

	// One cached parent handle: consecutive entries usually share a
	// directory, and MkdirAllHandle walks every component. The cache is
	// dropped whenever anything is removed, since a removed directory (or
	// one replaced by a symlink) must not keep receiving entries.
	cacheRel string
	cacheFd  *os.File

	dirs []dirTimes
}

// dirTimes are applied at the end: creating entries inside a directory
// bumps its mtime.
type dirTimes struct {
	parent, leaf string
	atime, mtime time.Time
}

func (u *unpacker) closeCache() {
	if u.cacheFd != nil {
		u.cacheFd.Close()
		u.cacheFd = nil
	}
}

// parentDir returns an O_PATH handle on rel (a directory), creating it and
// its parents as needed. Symlinks met on the way are resolved with the
// target directory as root, so the handle is always inside it. The handle
// is owned by the cache: callers must not close it.
func (u *unpacker) parentDir(rel string) (*os.File, error) {
	if u.cacheFd != nil && u.cacheRel == rel {
		return u.cacheFd, nil
	}
	u.closeCache()
	var (
		f   *os.File
		err error
	)
	if rel == "" {
		var fd int
		fd, err = unix.Openat(int(u.root.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			f = os.NewFile(uintptr(fd), ".")
		}
	} else {
		f, err = pathrs.MkdirAllHandle(u.root, rel, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve parent %q inside layer: %w", rel, err)
	}
	u.cacheRel, u.cacheFd = rel, f
	return f, nil
}

func (u *unpacker) apply(o *op, r io.Reader) error {
	switch o.kind {
	case opSkip:
		return nil
	case opOpaque:
		return u.applyOpaque(o)
	}
	if o.rel == "" { // the layer root itself ("./")
		if o.kind != opDir {
			return fmt.Errorf("only a directory may name the layer root")
		}
		return u.applyRootDir(o)
	}

	pd, err := u.parentDir(o.parent)
	if err != nil {
		return err
	}
	pfd := int(pd.Fd())

	// What is at the leaf now? Never follow it.
	var st unix.Stat_t
	err = unix.Fstatat(pfd, o.leaf, &st, unix.AT_SYMLINK_NOFOLLOW)
	exists := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "fstatat", Path: o.rel, Err: err}
	}
	if exists {
		switch {
		case o.kind == opWhiteout:
			// An entry of this layer already sits there and hides the
			// lower one anyway; the whiteout only concerns lower layers.
			return nil
		case o.kind == opDir && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			// Merge: keep the directory, update its metadata below.
		default:
			// Replace (Docker's rule): anything else is removed first,
			// without following it, and the cache is dropped since the
			// removed thing may have been a cached parent.
			err := removeAllAt(pfd, o.leaf)
			u.closeCache()
			if err != nil {
				return fmt.Errorf("replace existing %q: %w", o.rel, err)
			}
			// pd was closed with the cache; re-resolve.
			if pd, err = u.parentDir(o.parent); err != nil {
				return err
			}
			pfd = int(pd.Fd())
			exists = false
		}
	}

	switch o.kind {
	case opDir:
		if !exists {
			if err := unix.Mkdirat(pfd, o.leaf, 0o700); err != nil {
				return &os.PathError{Op: "mkdirat", Path: o.rel, Err: err}
			}
		}
		fd, err := unix.Openat(pfd, o.leaf, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "openat", Path: o.rel, Err: err}
		}
		f := os.NewFile(uintptr(fd), o.rel)
		err = u.setMeta(f, o)
		f.Close()
		if err != nil {
			return err
		}
		u.dirs = append(u.dirs, dirTimes{o.parent, o.leaf, o.atime, o.mtime})
		return nil
	case opFile:
		return u.writeFile(pfd, o, r)
	case opSymlink:
		if err := unix.Symlinkat(o.link, pfd, o.leaf); err != nil {
			return &os.PathError{Op: "symlinkat", Path: o.rel, Err: err}
		}
	case opHardlink:
		if err := u.link(pfd, o); err != nil {
			return err
		}
		// A hard link shares the target's inode and metadata; the
		// header's own mode and owner are not applied (tar semantics).
		return nil
	case opWhiteout:
		if err := unix.Mknodat(pfd, o.leaf, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknodat whiteout", Path: o.rel, Err: err}
		}
		return u.chownAt(pfd, o)
	case opDevice:
		dev := unix.Mkdev(o.major, o.minor)
		if err := unix.Mknodat(pfd, o.leaf, o.devMode|0o600, int(dev)); err != nil {
			return &os.PathError{Op: "mknodat", Path: o.rel, Err: err}
		}
	}
	if err := u.chownAt(pfd, o); err != nil {
		return err
	}
	if o.kind == opDevice {
		// After chown, which clears setuid/setgid. fchmodat follows
		// symlinks, but this leaf was just created by us as a node.
		if err := unix.Fchmodat(pfd, o.leaf, o.mode, 0); err != nil {
			return &os.PathError{Op: "fchmodat", Path: o.rel, Err: err}
		}
	}
	return u.setTimesAt(pfd, o.leaf, o.rel, o.atime, o.mtime)
}

func (u *unpacker) chownAt(pfd int, o *op) error {
	if u.opts.IgnoreOwnership {
		return nil
	}
	if err := unix.Fchownat(pfd, o.leaf, o.uid, o.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lchown", Path: o.rel, Err: err}
	}
	return nil
}

func (u *unpacker) setTimesAt(pfd int, leaf, rel string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, leaf, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: rel, Err: err}
	}
	return nil
}

// setMeta applies owner, mode and xattrs through an open fd (never a path).
// chown comes before chmod because chown clears setuid/setgid bits.
func (u *unpacker) setMeta(f *os.File, o *op) error {
	if !u.opts.IgnoreOwnership {
		if err := f.Chown(o.uid, o.gid); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(int(f.Fd()), o.mode); err != nil {
		return &os.PathError{Op: "fchmod", Path: o.rel, Err: err}
	}
	keys := make([]string, 0, len(o.xattrs))
	for k := range o.xattrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := unix.Fsetxattr(int(f.Fd()), k, []byte(o.xattrs[k]), 0); err != nil {
			// The filesystem under the store may not support every
			// namespace (user.* on tmpfs before 6.6): keep going, say so.
			u.warn(o.name, fmt.Sprintf("xattr %s not set: %v", k, err))
		}
	}
	return nil
}

func (u *unpacker) applyRootDir(o *op) error {
	fd, err := unix.Openat(int(u.root.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open layer root", Path: ".", Err: err}
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	if err := u.setMeta(f, o); err != nil {
		return err
	}
	u.dirs = append(u.dirs, dirTimes{"", ".", o.atime, o.mtime})
	return nil
}

// applyOpaque marks directory o.rel opaque, creating it if needed: in
// overlayfs an opaque directory hides the lower layers' contents.
func (u *unpacker) applyOpaque(o *op) error {
	h, err := u.parentDir(o.rel)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open opaque dir", Path: o.rel, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, u.opts.OverlayXattrPrefix+"opaque", []byte("y"), 0); err != nil {
		return &os.PathError{Op: "set opaque xattr", Path: o.rel, Err: err}
	}
	return nil
}

// link creates a hard link to an entry already unpacked. The target is
// resolved with the layer as root, so it cannot name a host file; linkat
// without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
func (u *unpacker) link(pfd int, o *op) error {
	tparent, tleaf := splitRel(o.link)
	var (
		th  *os.File
		err error
	)
	if tparent == "" {
		th, err = pathrs.OpenatInRoot(u.root, ".")
	} else {
		th, err = pathrs.OpenatInRoot(u.root, tparent)
	}
	if err != nil {
		return fmt.Errorf("hardlink target %q not found in layer: %w", o.link, err)
	}
	defer th.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(th.Fd()), tleaf, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hardlink target %q not found in layer: %w", o.link, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hardlink target %q is a directory", o.link)
	}
	if err := unix.Linkat(int(th.Fd()), tleaf, pfd, o.leaf, 0); err != nil {
		return &os.PathError{Op: "linkat", Path: o.rel, Err: err}
	}
	return nil
}

// writeFile creates the file exclusively (O_EXCL|O_NOFOLLOW: never through
// a symlink planted at the leaf) and copies its data, skipping zero blocks
// with pwrite offsets so that sparse files stay sparse.
func (u *unpacker) writeFile(pfd int, o *op, r io.Reader) error {
	fd, err := unix.Openat(pfd, o.leaf, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "openat", Path: o.rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), o.rel)
	defer f.Close()
	n, err := u.copySparse(f, r, o.size)
	u.total += n
	u.res.Bytes += n
	if err != nil {
		return fmt.Errorf("write data: %w", err)
	}
	if n != o.size {
		return fmt.Errorf("write data: got %d bytes, header says %d: %w", n, o.size, io.ErrUnexpectedEOF)
	}
	if err := u.setMeta(f, o); err != nil {
		return err
	}
	return u.setTimesAt(pfd, o.leaf, o.rel, o.atime, o.mtime)
}

const sparseBlock = 4096

var zeroBlock [sparseBlock]byte

func (u *unpacker) copySparse(f *os.File, r io.Reader, size int64) (int64, error) {
	var off int64
	for off < size {
		if err := u.ctx.Err(); err != nil {
			return off, err
		}
		want := int64(len(u.buf))
		if size-off < want {
			want = size - off
		}
		n, err := io.ReadFull(r, u.buf[:want])
		data := u.buf[:n]
		// Write only the non-zero runs, block by block.
		runStart := -1
		for i := 0; i < n; i += sparseBlock {
			end := min(i+sparseBlock, n)
			zero := bytes.Equal(data[i:end], zeroBlock[:end-i])
			if !zero && runStart < 0 {
				runStart = i
			}
			if zero && runStart >= 0 {
				if _, werr := f.WriteAt(data[runStart:i], off+int64(runStart)); werr != nil {
					return off, werr
				}
				runStart = -1
			}
		}
		if runStart >= 0 {
			if _, werr := f.WriteAt(data[runStart:n], off+int64(runStart)); werr != nil {
				return off, werr
			}
		}
		off += int64(n)
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			// Give the file its length even if it ends in a hole.
			_ = f.Truncate(off)
			return off, err
		}
	}
	// A trailing hole was never written: set the length explicitly.
	if err := f.Truncate(size); err != nil {
		return off, err
	}
	return off, nil
}

// finishDirs sets directory times last, deepest first, so that creating
// their children no longer changes them.
func (u *unpacker) finishDirs() error {
	u.closeCache()
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		var (
			h   *os.File
			err error
		)
		if d.parent == "" {
			h, err = pathrs.OpenatInRoot(u.root, ".")
		} else {
			h, err = pathrs.OpenatInRoot(u.root, d.parent)
		}
		if err != nil {
			continue // removed by a later entry: nothing to date
		}
		err = u.setTimesAt(int(h.Fd()), d.leaf, d.parent+"/"+d.leaf, d.atime, d.mtime)
		h.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// removeAllAt removes name under dirfd and, if it is a directory, all it
// holds, never following a symlink (unlinkat removes the link itself).
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err != nil {
		d.Close()
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}
