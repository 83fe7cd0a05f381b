// Package engine is Tirith's front end below the CLI: it turns an image
// (from internal/image/store) plus Docker-style flags (Options) into a
// hardened runtime-spec config.json, records every flag that weakens one
// of the seven walls as a Relaxation, and runs the result through
// internal/runtime as a library. It also owns front-end containers:
// their records under <storage>/containers/<id>/, the overlay rootfs, the
// secrets tmpfs, the per-container monitor of detached containers, logs,
// stop/kill/rm/exec/wait, diff and prune (prune.go: stopped containers
// and what crashed commands left behind).
//
// # Defaults (every wall up)
//
//   - wall 1: a user namespace per container, mapping container ids
//     0..65535 to a host range of its own: slices of root's /etc/subuid
//     range, else of a pool from 2^31 up that no /etc/subuid entry uses
//     (idmap.go). The image's USER is honoured.
//   - wall 2: spec.DefaultCapabilities for root, no effective or permitted
//     capabilities for a non-root USER; no_new_privs.
//   - wall 3: the Tirith seccomp allowlist, recomputed for the final caps.
//   - wall 4: the Landlock policy of spec.DefaultLandlock with noExecute
//     recomputed from the mounts (executeSplit): everything executable
//     but every mount not mounted ro; rw volumes and --tmpfs writable.
//   - wall 5: every namespace; network "none" (an empty netns: only lo).
//   - wall 6: memory DefaultMemory with swap = memory (no swap), pids
//     spec.DefaultPidsLimit, device allowlist.
//   - wall 7: read-only root, masked and read-only /proc and /sys paths,
//     size-capped noexec tmpfs on /tmp and /run.
//
// # Image ownership and writes
//
// Layers are unpacked once with their image owners and shared read-only.
// Each container's overlay uses idmapped mounts of them (mapped through
// its own id range), so image files keep their owners inside: root-owned
// files are container root's, and with --read-only=false container root
// can change them (the change is copied up into the container's own
// upper dir, owned by its range). The shared layers never change.
//
// This package does not pull images, parse image references or talk to
// registries (internal/image), and does not print: warnings come back as
// Relaxations and the CLI prints them.
package engine
