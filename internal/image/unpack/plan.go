package unpack

import (
	"archive/tar"
	"fmt"
	"math"
	"path"
	"strings"
	"time"
)

// pathMax is Linux's PATH_MAX (including the terminating NUL). A longer
// name cannot be opened in one syscall, so no legitimate layer has one.
const pathMax = 4096

// Overlay whiteout spellings from the OCI image spec (layer.md,
// "Whiteouts").
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

type opKind int

const (
	opSkip     opKind = iota
	opDir             // directory (kept if one already exists)
	opFile            // regular file
	opSymlink         // symbolic link, target stored verbatim, never followed
	opHardlink        // hard link to an entry already in the layer
	opWhiteout        // overlay whiteout: 0/0 char device
	opOpaque          // overlay opaque xattr on the parent directory
	opDevice          // char/block device or fifo (only with AllowDevices)
)

// op is one planned change, pure data: everything apply needs and nothing
// taken on trust from the header.
type op struct {
	kind         opKind
	name         string // the header's name, for error messages
	rel          string // cleaned, relative to the root; "" is the root itself
	parent       string // path.Dir(rel) ("" for the root)
	leaf         string // path.Base(rel)
	link         string // symlink: verbatim target; hardlink: cleaned rel target
	mode         uint32 // permission + setuid/setgid/sticky bits
	devMode      uint32 // S_IF* for opDevice
	major, minor uint32
	uid, gid     int
	size         int64
	mtime, atime time.Time
	xattrs       map[string]string
}

// cleanName maps a tar name to a path relative to the root. It rejects
// names that climb out with "..", contain NUL or are PATH_MAX long; an
// absolute name is taken as relative to the root.
func cleanName(name string) (string, error) {
	if len(name) >= pathMax {
		return "", fmt.Errorf("path is %d bytes, over PATH_MAX", len(name))
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("path contains NUL")
	}
	depth := 0
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth == 0 {
				return "", fmt.Errorf("path escapes the layer root with \"..\"")
			}
			depth--
		default:
			depth++
		}
	}
	rel := path.Clean("/" + name)[1:]
	return rel, nil
}

func splitRel(rel string) (parent, leaf string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// plan validates hdr and turns it into an op. Warnings go to res; an error
// means the layer must be rejected.
func (u *unpacker) plan(hdr *tar.Header) (op, error) {
	o := op{name: hdr.Name}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return o, err
	}
	o.rel = rel
	o.parent, o.leaf = splitRel(rel)
	o.mtime, o.atime = hdr.ModTime, hdr.AccessTime
	if o.atime.IsZero() {
		o.atime = o.mtime
	}
	o.mode = uint32(hdr.Mode) & 0o7777
	if o.uid, err = shiftID(hdr.Uid, u.opts.UIDOffset); err != nil {
		return o, fmt.Errorf("uid: %w", err)
	}
	if o.gid, err = shiftID(hdr.Gid, u.opts.GIDOffset); err != nil {
		return o, fmt.Errorf("gid: %w", err)
	}

	// Whiteouts first: their names are markers, not files.
	switch {
	case o.leaf == whiteoutOpaque:
		if hdr.Typeflag == tar.TypeDir {
			return o, fmt.Errorf("opaque marker is a directory")
		}
		o.kind = opOpaque
		o.rel, o.leaf = o.parent, ""
		return o, nil
	case strings.HasPrefix(o.leaf, whiteoutMeta):
		// Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): meaningless here.
		u.warn(hdr.Name, "aufs metadata skipped")
		return op{kind: opSkip}, nil
	case strings.HasPrefix(o.leaf, whiteoutPrefix):
		target := o.leaf[len(whiteoutPrefix):]
		if target == "" || target == "." || target == ".." {
			return o, fmt.Errorf("whiteout names no file")
		}
		o.kind = opWhiteout
		o.leaf = target
		o.rel = path.Join(o.parent, target)
		return o, nil
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		o.kind = opDir
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		if rel == "" {
			return o, fmt.Errorf("regular file would replace the layer root")
		}
		if hdr.Size < 0 {
			return o, fmt.Errorf("negative size %d", hdr.Size)
		}
		if hdr.Size > u.opts.MaxFileSize {
			return o, fmt.Errorf("file size %d exceeds the per-file limit %d", hdr.Size, u.opts.MaxFileSize)
		}
		if u.total+hdr.Size > u.opts.MaxTotalSize {
			return o, fmt.Errorf("layer size exceeds the limit %d", u.opts.MaxTotalSize)
		}
		o.kind = opFile
		o.size = hdr.Size
	case tar.TypeSymlink:
		if rel == "" {
			return o, fmt.Errorf("symlink would replace the layer root")
		}
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 || len(hdr.Linkname) >= pathMax {
			return o, fmt.Errorf("invalid symlink target")
		}
		// The target is stored verbatim: it is data, never followed here,
		// and inside the container it resolves against the container root.
		o.kind = opSymlink
		o.link = hdr.Linkname
	case tar.TypeLink:
		if rel == "" {
			return o, fmt.Errorf("hardlink would replace the layer root")
		}
		t, err := cleanName(hdr.Linkname)
		if err != nil {
			return o, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		if t == "" || t == rel {
			return o, fmt.Errorf("hardlink target %q is the root or itself", hdr.Linkname)
		}
		o.kind = opHardlink
		o.link = t
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if rel == "" {
			return o, fmt.Errorf("device would replace the layer root")
		}
		if hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
			// Already an overlay whiteout (layers exported from an
			// overlay upper dir carry them this way).
			o.kind = opWhiteout
			return o, nil
		}
		if !u.opts.AllowDevices {
			u.warn(hdr.Name, "device node or fifo skipped (not allowed)")
			return op{kind: opSkip}, nil
		}
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > math.MaxUint32 || hdr.Devminor > math.MaxUint32 {
			return o, fmt.Errorf("invalid device number %d:%d", hdr.Devmajor, hdr.Devminor)
		}
		o.kind = opDevice
		o.major, o.minor = uint32(hdr.Devmajor), uint32(hdr.Devminor)
		o.devMode = map[byte]uint32{tar.TypeChar: 0o020000, tar.TypeBlock: 0o060000, tar.TypeFifo: 0o010000}[hdr.Typeflag]
	case tar.TypeXGlobalHeader:
		return op{kind: opSkip}, nil
	default:
		u.warn(hdr.Name, fmt.Sprintf("unsupported entry type %q skipped", hdr.Typeflag))
		return op{kind: opSkip}, nil
	}

	if o.mode&0o6000 != 0 && o.kind != opDir {
		u.res.Setuid = append(u.res.Setuid, "/"+rel)
		if u.opts.DefangSetuid {
			o.mode &^= 0o6000
		}
	}
	o.xattrs = u.filterXattrs(hdr)
	return o, nil
}

// shiftID adds off to a tar uid/gid, refusing ids that do not fit
// (uid_t is 32 bits and (uid_t)-1 means "no change" to chown).
func shiftID(id int, off uint32) (int, error) {
	if id < 0 {
		return 0, fmt.Errorf("negative id %d", id)
	}
	v := uint64(id) + uint64(off)
	if v >= math.MaxUint32 {
		return 0, fmt.Errorf("id %d + offset %d does not fit in 32 bits", id, off)
	}
	return int(v), nil
}

// filterXattrs keeps the PAX xattrs that are safe to apply. security.*
// labels other than file capabilities describe the build host, not the
// image; overlay xattrs are ours to set (a forged redirect or metacopy could
// steer overlay lookups).
func (u *unpacker) filterXattrs(hdr *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		switch {
		case name == "security.capability":
			u.res.Setuid = append(u.res.Setuid, "/"+path.Clean("/" + hdr.Name)[1:])
			if u.opts.DefangSetuid {
				continue
			}
		case strings.HasPrefix(name, "security."):
			u.warn(hdr.Name, "xattr "+name+" dropped")
			continue
		case strings.HasPrefix(name, "trusted.overlay."), strings.HasPrefix(name, "user.overlay."):
			u.warn(hdr.Name, "overlay xattr "+name+" dropped")
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out
}
