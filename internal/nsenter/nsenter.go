// Package nsenter holds the only C in Tirith: a constructor that joins and
// creates namespaces before the Go runtime starts (see nsenter.c). Importing
// the package links it in; the Go side of the protocol lives in
// internal/runtime.
package nsenter

// #cgo CFLAGS: -Wall -Werror -O2
import "C"

// EnvSyncFD names the environment variable that activates the constructor.
const EnvSyncFD = "_TIRITH_NSENTER_FD"
