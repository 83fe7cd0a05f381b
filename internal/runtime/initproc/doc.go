// Package initproc is the child side of the runtime: the process that
// becomes the container's init (or an exec'd process), already inside its
// namespaces (internal/nsenter did that before Go started). It raises the
// in-container walls in one sequence (init.go) and execs the payload.
//
// Nothing else lives here: the parent side is internal/runtime.
package initproc
