// Package apparmor owns Tirith's use of AppArmor (wall 4): whether the
// host runs it, and asking it for the profile a process gets at its next
// execve (process.apparmorProfile). Tirith loads no profiles; the one
// named must be loaded on the host already. Which profile a front-end
// container gets (--security-opt apparmor=) is internal/engine's policy.
package apparmor
