// Package cgroups is wall 6 (resources): it puts one container into its
// cgroup on every hierarchy, applies the limits from the OCI spec's
// linux.resources (memory and swap, pids, cpu, block I/O, hugepages,
// network class/priority, rdma, the v2 "unified" map) and the device
// allowlist, and later reads, freezes, updates and removes that cgroup.
//
// # What it owns
//
//   - Conversion from runtime-spec types to the resources of
//     github.com/opencontainers/cgroups (convert.go), written for Tirith
//     rather than taken from runc's specconv. Bad values are rejected with an
//     error naming the JSON field, e.g.
//     "linux.resources.memory.swap: must be >= memory limit".
//   - The device allowlist (devices.go). The rule list is always
//     "deny everything", then the spec's rules in order, then the OCI default
//     devices (null, zero, full, tty, random, urandom, ptmx, pts). A spec with
//     no devices section therefore gets deny-all-but-defaults, on v1 and v2
//     alike. Unlike runc, Tirith does not add the "c *:* m" and "b *:* m"
//     mknod wildcards: a container that may mknod any device node can open
//     it wherever the allowlist is bypassed (for instance a bind mount).
//   - Cgroup paths: "" means "/tirith/<id>". An absolute cgroupsPath is taken
//     from the root of every hierarchy. A relative one follows runc: on v1 it
//     is joined to the runtime process's own cgroup in each hierarchy, on v2
//     to the parent of the runtime's own cgroup (the runtime's own cgroup is
//     a leaf holding processes, so a child cannot get controllers there).
//     ".." cannot climb out (the path is cleaned as if rooted), and the root
//     cgroup itself is refused.
//   - The cgroup v2 resource writer (v2.go), see below.
//   - Stats in the JSON shape of runc's "events --stats" (stats.go).
//
// # What it does not own
//
//   - Killing processes: Destroy only removes directories; the runtime kills
//     the container first (a cgroup with live tasks cannot be removed).
//   - The cgroup namespace: the runtime must unshare it in the container's
//     init after Apply has moved the process (see Manager.Apply).
//   - The systemd driver: Config.Systemd is refused with
//     "systemd cgroup driver not supported".
//   - Delegation itself: with Config.Rootless only the hierarchies the
//     caller may write to are used (see delegated), and a limit whose
//     controller is not among them is refused.
//
// # cgroup v1, hybrid and v2
//
// On v1 and hybrid hosts the library's fs (v1) manager does the work. In
// hybrid mode (a cgroup2 mount at /sys/fs/cgroup/unified) the library also
// creates the container's cgroup in the unified hierarchy and moves the
// process there, and Destroy removes it there too. Tirith uses that unified
// cgroup for what v1 cannot express on such a host: the spec's "unified" map
// and, when hugetlb is bound to cgroup2 rather than mounted as v1, the
// hugepage limits.
//
// On pure v2 hosts the library's fs2 manager cannot be pointed at any
// directory other than /sys/fs/cgroup: fs2.CreateCgroupPath refuses other
// prefixes, and the library's file helpers refuse files that are not on a
// cgroup filesystem unless the global cgroups.TestMode is set. So the
// resource files of v2 (pids.max, memory.max, memory.swap.max, cpu.max,
// io.max ...) are written by this package's own small writer, in the same
// order and with the same value conversions as fs2 (the library's helpers
// cgroups.ConvertCPUSharesToCgroupV2Value, ConvertMemorySwapToCgroupV2Value
// and ConvertBlkIOToIOWeightValue are used directly). This makes the v2 path
// testable against a temporary directory laid out like cgroupfs (Config.Root)
// without a global test switch, and v2_parity_test.go checks the writer
// against fs2 itself. The v2 device allowlist (an eBPF program), freezing,
// stats and OOM counts still come from the library. Against the real
// /sys/fs/cgroup the writer goes through cgroups.WriteFile, which opens files
// with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS).
package cgroups
