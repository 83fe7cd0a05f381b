// Package namespaces is the one table of namespace types (wall 5): each
// runtime-spec type with the clone flag that creates one and the file
// under /proc/PID/ns that names one. Validation, create, exec, features
// and the probe read it. It applies nothing: nsenter.c creates and joins
// namespaces before the Go runtime starts (its type names are this
// table's, spelled again in C).
package namespaces

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type kind struct {
	typ  specs.LinuxNamespaceType
	flag int
	file string
}

var table = []kind{
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
}

func find(t specs.LinuxNamespaceType) (kind, bool) {
	for _, k := range table {
		if k.typ == t {
			return k, true
		}
	}
	return kind{}, false
}

// Known reports whether t is a namespace type this runtime handles.
func Known(t specs.LinuxNamespaceType) bool {
	_, ok := find(t)
	return ok
}

// CloneFlag is the CLONE_NEW* flag that creates a namespace of type t (0
// for an unknown type).
func CloneFlag(t specs.LinuxNamespaceType) int {
	k, _ := find(t)
	return k.flag
}

// File is the name of a type's entry in /proc/PID/ns ("mnt" for mount).
func File(t specs.LinuxNamespaceType) string {
	k, _ := find(t)
	return k.file
}

// OfFlag is the type a CLONE_NEW* flag creates, as NS_GET_NSTYPE returns
// it for a namespace file.
func OfFlag(flag int) (specs.LinuxNamespaceType, bool) {
	for _, k := range table {
		if k.flag == flag {
			return k.typ, true
		}
	}
	return "", false
}

// Types lists the runtime-spec types, for `tirith features`.
func Types() []string {
	out := make([]string, len(table))
	for i, k := range table {
		out[i] = string(k.typ)
	}
	return out
}

// Files lists the /proc/PID/ns entries, one per type.
func Files() []string {
	out := make([]string, len(table))
	for i, k := range table {
		out[i] = k.file
	}
	return out
}

// In says whether ns has a namespace of type t, new or joined by path.
func In(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type == t {
			return true
		}
	}
	return false
}
