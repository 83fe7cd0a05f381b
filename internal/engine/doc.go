// Package engine is Tirith's front end below the CLI: it turns an image
// (from internal/image/store) plus Docker-style flags (Options) into a
// hardened runtime-spec config.json, records every flag that weakens one
// of the seven walls as a Relaxation, and runs the result through
// internal/runtime as a library. It also owns front-end containers:
// their records under <storage>/containers/<id>/, the overlay rootfs, the
// secrets tmpfs, the per-container monitor of detached containers, logs,
// stop/kill/rm/exec/wait and diff.
//
// # Defaults (every wall up)
//
//   - wall 1: a user namespace maps container root to an unprivileged host
//     range: root's range in /etc/subuid, else 100000:65536 (spec.Default).
//     ONE range is shared by every front-end container for now, so two
//     containers' roots are the same host uid: the other walls (pid, mount
//     namespaces, Landlock, seccomp) keep them apart, not DAC. Per-container
//     ranges are future work. The image's USER is honoured.
//   - wall 2: spec.DefaultCapabilities for root, no effective or permitted
//     capabilities for a non-root USER; no_new_privs.
//   - wall 3: the Tirith seccomp allowlist, recomputed for the final caps.
//   - wall 4: the Landlock policy of spec.DefaultLandlock, plus the
//     directory of the image's program when it lies outside the default
//     program directories, and rw volume / tmpfs destinations.
//   - wall 5: every namespace; network "none" (an empty netns: only lo).
//   - wall 6: memory DefaultMemory with swap = memory (no swap), pids
//     spec.DefaultPidsLimit, device allowlist.
//   - wall 7: read-only root, masked and read-only /proc and /sys paths,
//     size-capped noexec tmpfs on /tmp and /run.
//
// # Image ownership and writes
//
// Layers are unpacked with host ownership (a file owned by root in the
// image is owned by host uid 0), so inside the user namespace they appear
// owned by the overflow uid (nobody): container root can read and execute
// them but cannot write files or create entries in image directories it
// does not own unless their mode lets "other" write. The overlay upper dir
// is owned by the mapped root, so "/" itself and everything the container
// creates is container root's. With --read-only=false, writes to new paths
// and to world-writable image paths work; rewriting root-owned image files
// does not. An id-shifted store (unpack.Options.UIDOffset) or idmapped
// lower layers would lift this; both are future work.
//
// This package does not pull images, parse image references or talk to
// registries (internal/image), and does not print: warnings come back as
// Relaxations and the CLI prints them.
package engine
