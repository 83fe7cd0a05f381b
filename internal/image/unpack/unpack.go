package unpack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// DefaultMaxSize is the default cap on one file and on a whole layer
// (logical bytes). Real layers are far smaller; the cap is what stops a tar
// header claiming 1 TiB from filling the disk.
const DefaultMaxSize int64 = 16 << 30

// Options tune an unpack. The zero value is the safe default.
type Options struct {
	// UIDOffset and GIDOffset are added to every owner, for a store whose
	// layers are shifted into a user namespace's host range.
	UIDOffset, GIDOffset uint32
	// IgnoreOwnership skips chown (an unprivileged unpack cannot chown).
	IgnoreOwnership bool
	// AllowDevices creates device nodes and fifos instead of skipping them.
	AllowDevices bool
	// DefangSetuid strips setuid/setgid bits and file capabilities.
	// Without it they are kept but listed in Result.Setuid.
	DefangSetuid bool
	// MaxFileSize and MaxTotalSize cap one file and the whole layer;
	// 0 means DefaultMaxSize.
	MaxFileSize, MaxTotalSize int64
	// OverlayXattrPrefix is where opaque markers go: "trusted.overlay."
	// (default) or "user.overlay." for rootless overlay with userxattr.
	OverlayXattrPrefix string
}

// Warning is something the unpack changed or skipped on purpose.
type Warning struct {
	Path string // tar entry name
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s: %s", w.Path, w.Msg) }

// Result describes a finished unpack.
type Result struct {
	// DiffID is "sha256:<hex>" of the uncompressed tar stream, to be
	// checked against the image config's rootfs.diff_ids.
	DiffID string
	// Entries is the number of tar entries read; Bytes the logical size
	// of the regular files written.
	Entries int
	Bytes   int64
	// Setuid lists paths ("/usr/bin/su") with setuid/setgid bits or file
	// capabilities; stripped if Options.DefangSetuid was set.
	Setuid   []string
	Warnings []Warning
}

// Unpack extracts the layer tar read from r into dir, which must exist and
// should be empty (a fresh temp dir: see package store). r may be gzip or
// zstd compressed; the format is detected from its first bytes, and
// decompression (and hashing) runs in its own goroutine while this one
// writes files. Nothing is buffered beyond a few fixed-size chunks.
//
// On error dir holds a partial layer that the caller must remove; nothing
// outside dir has been touched. Errors name the tar entry.
func Unpack(ctx context.Context, r io.Reader, dir string, opts Options) (*Result, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxSize
	}
	if opts.MaxTotalSize <= 0 {
		opts.MaxTotalSize = DefaultMaxSize
	}
	if opts.OverlayXattrPrefix == "" {
		opts.OverlayXattrPrefix = "trusted.overlay."
	}
	rootFd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open layer root", Path: dir, Err: err}
	}
	root := os.NewFile(uintptr(rootFd), dir)
	defer root.Close()

	stream, closeStream, err := decompress(r)
	if err != nil {
		return nil, err
	}
	defer closeStream()
	h := sha256.New()
	ra := newReadAhead(stream, h)
	defer ra.Close() // runs before closeStream: defers are LIFO

	u := &unpacker{ctx: ctx, root: root, opts: opts, res: &Result{}, buf: make([]byte, 1<<20)}
	defer u.closeCache()
	if err := u.run(tar.NewReader(ra)); err != nil {
		return nil, err
	}
	// The DiffID covers the whole stream, including the end-of-archive
	// blocks and any padding after them, which tar.Reader does not read.
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	u.res.DiffID = "sha256:" + hex.EncodeToString(h.Sum(nil))
	slices.Sort(u.res.Setuid)
	u.res.Setuid = slices.Compact(u.res.Setuid)
	return u.res, nil
}

func (u *unpacker) run(tr *tar.Reader) error {
	for {
		if err := u.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer tar: %w", err)
		}
		u.res.Entries++
		o, err := u.plan(hdr)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", shortName(hdr.Name), err)
		}
		if err := u.apply(&o, tr); err != nil {
			return fmt.Errorf("layer entry %q: %w", shortName(hdr.Name), err)
		}
	}
	return u.finishDirs()
}

// shortName keeps error messages readable when a name is absurdly long.
func shortName(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func (u *unpacker) warn(name, msg string) {
	u.res.Warnings = append(u.res.Warnings, Warning{Path: name, Msg: msg})
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress sniffs r's format. Both OCI layer compressions are handled
// here (klauspost's gzip is markedly faster than compress/gzip).
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read gzip layer: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("read zstd layer: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return br, func() {}, nil
	}
}

// readAhead runs decompression and hashing in a goroutine, handing over
// fixed-size chunks, so that CPU-bound decompression overlaps with the
// syscall-bound writing in the caller.
type readAhead struct {
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	cur    []byte
	spent  []byte
	err    error // valid once full is closed
	closed bool
}

const (
	chunkSize  = 256 << 10
	chunkCount = 4
)

func newReadAhead(src io.Reader, h hash.Hash) *readAhead {
	ra := &readAhead{
		full:   make(chan []byte, chunkCount),
		free:   make(chan []byte, chunkCount),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range chunkCount {
		ra.free <- make([]byte, chunkSize)
	}
	go func() {
		defer close(ra.exited)
		defer close(ra.full)
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.done:
				ra.err = errors.New("read-ahead closed")
				return
			}
			n, err := io.ReadFull(src, buf[:chunkSize])
			if n > 0 {
				h.Write(buf[:n])
				select {
				case ra.full <- buf[:n]:
				case <-ra.done:
					ra.err = errors.New("read-ahead closed")
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.spent != nil {
			ra.free <- ra.spent[:cap(ra.spent)]
			ra.spent = nil
		}
		b, ok := <-ra.full
		if !ok {
			return 0, ra.err
		}
		ra.cur, ra.spent = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine at its next chunk boundary and waits for it,
// so that the decompressor is never closed under its feet and Unpack never
// returns while still reading the caller's reader. (A reader that blocks
// forever must be unblocked by its owner, e.g. an http body by its ctx.)
func (ra *readAhead) Close() {
	if !ra.closed {
		ra.closed = true
		close(ra.done)
		<-ra.exited
	}
}

// Decompress returns the tar stream of a layer blob, gzip, zstd or plain,
// and a function that releases the decompressor. Readers of a layer that
// do not unpack it (the image audit) use it.
func Decompress(r io.Reader) (io.Reader, func(), error) { return decompress(r) }
