// Package store is Tirith's content-addressed image store, rooted at a
// directory (/var/lib/tirith by default; the caller passes it). It backs
// `tirith pull/load/import/images/rmi/inspect`.
//
// # Layout
//
//	<root>/blobs/sha256/<hex>    manifests, configs, compressed layers
//	<root>/layers/<diffid-hex>/  each layer unpacked ONCE: an overlayfs lower,
//	                             shared read-only by every container using it
//	<root>/layermeta/<hex>.json  what unpack reported (setuid files, warnings)
//	<root>/signatures/<hex>.json what PullOptions.Verify kept for manifest <hex>
//	<root>/index.json            image records and their names
//	<root>/tmp/                  temp files and dirs; debris after a crash
//	<root>/lock, index.lock      flock(2) files
//
// # Atomicity
//
// Nothing is ever created in place. A blob is written to tmp/, fsynced,
// its sha256 compared with the expected digest, then renamed into blobs/.
// A layer is unpacked into a temp dir under tmp/, its DiffID checked
// against the image config, the filesystem synced, then the dir renamed
// into layers/. index.json is replaced by rename. So a crash or a
// cancelled pull leaves only tmp/ debris, which Open (when no other
// writer is active) and GC remove, and a second pull reuses every blob and
// layer that was completed.
//
// # Locking
//
// "lock" is held shared by every operation that adds content (Pull, Load,
// Import) for its whole duration and exclusively by Remove and GC, so a
// collection never deletes a blob that a concurrent pull has written but
// not yet recorded. "index.lock" is held exclusively, briefly, around each
// read-modify-write of index.json. Locks are always taken in that order.
// Readers (List, Get, LayerDirs) take no lock: index.json is only ever
// replaced whole.
//
// # Whiteouts and layer dirs
//
// Layers are unpacked by package unpack, which converts OCI whiteouts to
// overlayfs form (0/0 character devices; trusted.overlay.opaque=y on
// opaque directories). LayerDirs returns the dirs top layer first, ready
// to join with ":" as an overlay lowerdir.
//
// This package does not mount anything, does not create containers' upper
// or work dirs, and does not decide on image trust: package trust does,
// through PullOptions.Verify, before any blob is fetched.
package store
