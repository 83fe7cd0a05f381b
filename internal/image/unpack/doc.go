// Package unpack extracts one image layer (a tar stream, optionally gzip or
// zstd compressed) into a directory that becomes an overlayfs lower layer.
//
// Layer tars are attacker-controlled input: this package is an attack
// surface, and its one promise is that NOTHING is ever created, modified or
// followed outside the target directory, whatever the tar says. It keeps it
// by planning, then applying, each entry:
//
//   - plan (pure, plan.go): the header is validated and turned into an op.
//     Names are cleaned lexically; a name whose ".." would climb above the
//     root is rejected (it can only be malice), an absolute name is taken
//     relative to the root (GNU tar does the same), a name of PATH_MAX or
//     more is rejected. Sizes are checked against caps before any data is
//     read, so a 1 TiB header costs nothing. Device nodes and fifos are
//     skipped with a warning unless Options.AllowDevices; setuid/setgid
//     files are recorded (and stripped with Options.DefangSetuid).
//   - apply (apply.go): the parent directory is resolved with
//     filepath-securejoin's pathrs-lite (MkdirAllHandle / OpenatInRoot),
//     which treats the target as the root for every symlink it meets, so a
//     layer's own symlink "evil -> /" followed by "evil/etc/x" lands in
//     <target>/etc/x. The leaf is then created with *at syscalls relative to
//     that handle, with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW: the leaf itself is
//     never followed. Hard-link targets are resolved the same way, so they
//     can only name files already inside the target.
//
// Whiteouts are converted to overlayfs form, because unpacked layers are
// mounted as overlay lowers: ".wh.NAME" becomes a 0/0 character device NAME,
// and ".wh..wh..opq" becomes the xattr <prefix>opaque=y on its directory
// (prefix "trusted.overlay.", or "user.overlay." for rootless overlay with
// userxattr). A 0/0 character device in the tar is already an overlay
// whiteout and is kept as one. Layers may not carry overlay xattrs of their
// own (redirect/metacopy could point lookups elsewhere): they are dropped.
//
// This package does not verify compressed digests (the store does that on
// the way in) but it does return the DiffID (sha256 of the uncompressed
// stream) for the caller to compare with the image config. It does not
// know about images, stores or overlay mounts.
package unpack
