// Package runtime is the parent side of Tirith's OCI runtime: container
// state under --root, one directory and lock per container, and the
// lifecycle verbs (create, start, state, kill, delete, exec, list, ps).
//
// create.go reads top to bottom as the host side of the walls: namespaces
// and id maps (walls 1 and 5, carried out by internal/nsenter before the
// child's Go runtime starts), the cgroup (wall 6), hooks, and the hand-off
// to the child (internal/runtime/initproc), which raises the rest.
package runtime
