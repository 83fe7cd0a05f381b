// Package network holds what Tirith does to a container's network
// namespace (wall 5). Today that is the loopback interface: a new network
// namespace starts with lo down, so that 127.0.0.1 is unreachable; the
// front end asks the runtime, through LoopbackAnnotation, to bring it up
// as Docker and podman do. The OCI runtime leaves it down unless asked,
// as runc does: there the spec's owner (containerd's CNI, podman's
// netavark) owns networking.
package network
