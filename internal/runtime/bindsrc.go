package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/rootfs"
)

// cloneBindSources clones the source of every bind mount in mounts (nil
// for the others) as host root but inside the mount namespace of process
// pid, the container's init: the container's user-namespaced root is an
// unprivileged host uid that may not be able to look the sources up (the
// front end's secrets sit in its 0700 --storage), while a clone made in
// its own namespace is exactly the mount its bind would have made,
// propagation and the locks its user namespace puts on host mounts
// included (a clone made in ours would carry neither).
func cloneBindSources(pid int, mounts []rootfs.Op) ([]*os.File, error) {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nil, fmt.Errorf("container mount namespace: %w", err)
	}
	defer ns.Close()
	type result struct {
		trees []*os.File
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: a thread that has entered another mount
		// namespace must not run other goroutines, so the Go runtime
		// ends it with this goroutine.
		goruntime.LockOSThread()
		trees, err := cloneOnThisThread(ns, mounts)
		done <- result{trees, err}
	}()
	r := <-done
	return r.trees, r.err
}

func cloneOnThisThread(ns *os.File, mounts []rootfs.Op) ([]*os.File, error) {
	// setns(CLONE_NEWNS) needs a thread that shares its root and cwd
	// with no other.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, os.NewSyscallError("unshare(CLONE_FS)", err)
	}
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("enter container mount namespace: %w", os.NewSyscallError("setns", err))
	}
	trees := make([]*os.File, len(mounts))
	for i, m := range mounts {
		if !m.IsBind() {
			continue
		}
		t, err := rootfs.CloneSource(m)
		if err != nil {
			closeFiles(trees)
			return nil, fmt.Errorf("mounts[%d]: %w", i, err)
		}
		trees[i] = t
	}
	return trees, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// sendBindSources answers the child's MsgBindSources: one message with
// one fd per bind mount, in spec order.
func (p *child) sendBindSources(mounts []rootfs.Op) error {
	trees, err := cloneBindSources(p.pid, mounts)
	if err != nil {
		return err
	}
	defer closeFiles(trees)
	for i, t := range trees {
		if t == nil {
			continue
		}
		if err := unix.Sendmsg(int(p.sock.Fd()), []byte{0}, unix.UnixRights(int(t.Fd())), nil, 0); err != nil {
			return fmt.Errorf("send mounts[%d] source to container init: %w", i, err)
		}
	}
	return nil
}
