// Package specgen turns an image's config plus `tirith run`'s
// Docker-style flags (Options) into a hardened runtime-spec config.json,
// and records every flag that weakens one of the seven walls as a
// Relaxation. BuildSpec raises the walls one function each (identity,
// privileges, syscalls, namespaces, filesystem, resources, mandatory
// access); the flag parsers are in flags.go and env.go.
//
// It reads the image through its mounted rootfs (USER, confined to it)
// and the files flags name (--env-file, seccomp and Landlock profiles,
// --device nodes), and changes nothing: mounting, writing secrets and
// running are package engine's.
//
// # Defaults (every wall up)
//
//   - wall 1: a user namespace per container, mapping container ids
//     0..65535 to a host range of its own: slices of root's /etc/subuid
//     range, else of a pool from 2^31 up that no /etc/subuid entry uses
//     (package idrange). The image's USER is honoured.
//   - wall 2: spec.DefaultCapabilities for root, no effective or permitted
//     capabilities for a non-root USER; no_new_privs.
//   - wall 3: the Tirith seccomp allowlist, recomputed for the final caps.
//   - wall 4: the Landlock policy of spec.DefaultLandlock with noExecute
//     recomputed from the mounts (executeSplit): everything executable
//     but every mount not mounted ro; rw volumes and --tmpfs writable.
//   - wall 5: every namespace; network "none" (an empty netns: only lo)
//     when Options.Network is empty (the front end's --network
//     defaults to bridge: a netns of its own with one veth).
//   - wall 6: memory DefaultMemory with swap = memory (no swap), pids
//     spec.DefaultPidsLimit, device allowlist.
//   - wall 7: read-only root, masked and read-only /proc and /sys paths,
//     size-capped noexec tmpfs on /tmp and /run.
package specgen
