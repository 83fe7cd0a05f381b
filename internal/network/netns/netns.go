// Package netns creates and removes the network namespaces Tirith makes
// for bridged containers: a namespace pinned by a bind mount of its nsfs
// file, so that it outlives no process but the mount, and the CNI
// plugins and the runtime can name it by path.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/network"
	"github.com/tirith-project/tirith/internal/rootless"
)

// pingGroupRange lets every gid use ICMP echo sockets (ping without
// CAP_NET_RAW, which the container's root lacks over a namespace owned
// by the host's user namespace), as Docker does; up to the largest gid,
// since containers' host ids may lie above 2^31.
const pingGroupRange = "0 4294967294\n"

// Create makes a new network namespace with lo up and pins it at path,
// a new file in a directory that only root may enter (made 0700 if
// missing). On error nothing is left.
func Create(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("network namespace dir: %w", err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("network namespace file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = Remove(path)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked unless it is back in our namespace:
		// a goroutine that ends locked takes its thread with it.
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("new network namespace: %w", os.NewSyscallError("unshare", err))
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("pin network namespace at %s: %w", path, os.NewSyscallError("mount", err))
		}
		if err == nil {
			err = network.LoopbackUp()
		}
		if err == nil {
			err = os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte(pingRange()), 0)
		}
		if err == nil {
			// Container root has no CAP_NET_BIND_SERVICE over a
			// namespace the host's user namespace owns: without this,
			// nginx could not listen on port 80 (Docker does the same).
			err = os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0\n"), 0)
		}
		back(orig)
		errc <- err
	}()
	return <-errc
}

// back returns the locked thread to namespace orig and unlocks it. Root
// of a user namespace may not enter the host's network namespace again
// (the rootless front end): then the thread stays locked and goes when
// its goroutine ends, as the Go runtime does with locked threads.
func back(orig *os.File) {
	if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
		goruntime.UnlockOSThread()
	}
}

// pingRange is every gid (ICMP echo sockets for all), or, inside a user
// namespace, every gid it maps: the kernel refuses a range beyond.
func pingRange() string {
	if !userns.RunningInUserNS() {
		return pingGroupRange
	}
	ms, err := rootless.IdentityMap("gid_map")
	if err != nil {
		return pingGroupRange
	}
	var top uint64
	for _, m := range ms {
		top = max(top, uint64(m.ContainerID)+uint64(m.Size))
	}
	return fmt.Sprintf("0 %d\n", top-1)
}

// Remove unpins and deletes the namespace file at path; the namespace
// goes with its last process. A missing file is not an error.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin network namespace %s: %w", path, os.NewSyscallError("umount", err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Do runs fn on a thread inside the namespace pinned at path.
func Do(path string, fn func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns", err)
			return
		}
		err = fn()
		back(orig)
		errc <- err
	}()
	return <-errc
}
