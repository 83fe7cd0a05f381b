// Package rootfs builds a container's filesystem view inside its new mount
// namespace (wall 7): the spec's mounts in order, the OCI default devices,
// pivot_root, a read-only root, masked and read-only paths.
//
// Every destination from a bundle is resolved inside the rootfs by the
// kernel, openat2 with RESOLVE_IN_ROOT (Root.Open, Root.MkdirAll; on
// kernels without openat2, filepath-securejoin's pathrs-lite), and mounted
// through the resulting O_PATH handle
// (/proc/self/fd/N), so a symlink in the rootfs, or one swapped in during
// setup, can never redirect a mount onto the host (CVE-2021-30465 class).
//
// It runs only in the container's init process (internal/runtime/initproc),
// before the payload starts; it does not create namespaces or cgroups.
package rootfs
