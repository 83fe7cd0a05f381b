// Package nsenter holds the only C in Tirith: three constructors that run
// before the Go runtime starts. nsenter.c joins and creates namespaces;
// wait.c is the lean container init that waits for `start` and execs the
// payload without ever starting Go; rootless.c joins (or is) the rootless
// front end's pause process. Importing the package links them in;
// the Go side of their protocols lives in internal/runtime and
// internal/runtime/initproc (wait.go).
package nsenter

// #cgo CFLAGS: -Wall -Werror -O2
// #cgo LDFLAGS: -static
import "C"

// EnvSyncFD names the environment variable that activates the constructor.
const EnvSyncFD = "_TIRITH_NSENTER_FD"

// EnvWaitFD names the variable that turns the process into the lean
// waiter; its value is the fd of the instructions.
const EnvWaitFD = "_TIRITH_WAIT_FD"
