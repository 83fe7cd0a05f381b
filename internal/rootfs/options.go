package rootfs

import (
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Options is a mount's option list from config.json split the way the
// mount(2) family wants it.
type Options struct {
	Flags       uintptr   `json:"flags,omitempty"`      // flags for the mount itself
	ClearFlags  uintptr   `json:"clearFlags,omitempty"` // flags named in their negative form (rw, suid, ...)
	Propagation []uintptr `json:"propagation,omitempty"`
	Data        string    `json:"data,omitempty"`
	Bind        bool      `json:"bind,omitempty"`
	Recursive   bool      `json:"recursive,omitempty"` // rbind
	// CopyUp (tmpcopyup) fills a new tmpfs with what the image has at
	// its mount point (see copyUp).
	CopyUp bool `json:"copyUp,omitempty"`
}

var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
}

var propagationOptions = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// ParseOptions splits runc-style mount options. Options that are neither
// flags nor propagation go to the filesystem as data (size=, mode=, ...).
// Tirith-only and runc-only hints that carry no kernel meaning are dropped.
func ParseOptions(opts []string) Options {
	var o Options
	var data []string
	for _, opt := range opts {
		switch opt {
		case "bind":
			o.Bind = true
			continue
		case "rbind":
			o.Bind, o.Recursive = true, true
			continue
		case "tmpcopyup":
			o.CopyUp = true
			continue
		case "defaults", "X-mount.mkdir":
			continue
		}
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
				o.ClearFlags |= f.flag
			} else {
				o.Flags |= f.flag
				o.ClearFlags &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o
}

// ParsePropagation maps a rootfsPropagation value to mount flags.
func ParsePropagation(s string) (uintptr, bool) {
	p, ok := propagationOptions[s]
	return p, ok
}

// KnownOptions lists every mount option ParseOptions understands.
func KnownOptions() []string {
	opts := []string{"bind", "rbind", "tmpcopyup"}
	for o := range flagOptions {
		opts = append(opts, o)
	}
	for o := range propagationOptions {
		opts = append(opts, o)
	}
	sort.Strings(opts)
	return opts
}
