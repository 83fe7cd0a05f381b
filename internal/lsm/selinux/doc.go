// Package selinux owns Tirith's use of SELinux (wall 4) for processes:
// whether the host runs it, and asking it for the label a process gets at
// its next execve (process.selinuxLabel). The label of mounts
// (linux.mountLabel, the context= option) is applied by internal/rootfs
// with the mount itself.
package selinux
