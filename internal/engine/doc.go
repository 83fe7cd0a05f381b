// Package engine is Tirith's front end below the CLI: the story of a
// front-end container, told over its rooms. Prepare claims a record
// (container.go: id, name, locks, meta.json) and an id range
// (package idrange), mounts the rootfs (package snapshot), builds the
// hardened spec (package specgen), writes the secrets tmpfs, the /etc
// files and the bundle; RunForeground and StartDetached run it through
// internal/runtime as a library (run.go, with the monitor of detached
// containers); cleanup takes it all back. Around that: logs,
// stop/kill/rm/exec/wait (ops.go), inspect, diff, and prune (prune.go:
// stopped containers and what crashed commands left behind).
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
