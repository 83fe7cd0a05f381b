// Package trace records the syscalls a container's payload makes, with a
// seccomp user-notification listener of Tirith's own: the recording
// filter sends every x86_64 syscall to the listener (SCMP_ACT_NOTIFY),
// which notes its number and lets it continue
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE). No eBPF, no ptrace, no privilege
// beyond running the container.
//
// The runtime installs the filter as the last step before the payload's
// execve. What the runtime's own threads still do in between (closing the
// listener connection, the Go runtime's background threads) is told apart
// by order: notifications before the init's execve are answered but not
// recorded, and so are later ones from threads seen before it, except the
// execve caller and its thread group leader, which become the payload.
// Some calls cannot be seen: those the init makes before the listener
// has its fd must not wait for it, or the init deadlocks: the sendmsg
// that hands the fd over, and what the Go runtime's threads do meanwhile
// (futex, signal masks and returns, sleeping, memory). They are let
// through unrecorded and always added to the result (Unobservable).
package trace

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// Unobservable are the syscalls the recording filter lets through
// unrecorded, with the reason; every trace result includes them.
var Unobservable = map[string]string{
	"sendmsg": "trace: not observable (the runtime hands the listener fd over with it), so always included",
}

func init() {
	for _, n := range []string{
		"futex", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "nanosleep", "sched_yield",
		"mmap", "munmap", "madvise", "getpid", "gettid", "tgkill", "clock_gettime",
		"epoll_pwait", "epoll_wait",
	} {
		Unobservable[n] = "trace: not observable (the runtime's own threads use it before the listener has its fd), so always included"
	}
}

// Recorder is a listener socket and the syscalls recorded through it.
type Recorder struct {
	dir  string
	ln   *net.UnixListener
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	seen  map[string]int // name -> calls recorded
	nrs   map[uint32]string
	extra []string // numbers that have no name
	err   error
}

// NewRecorder makes the listener socket in a private directory.
func NewRecorder() (*Recorder, error) {
	dir, err := os.MkdirTemp("", "tirith-trace-")
	if err != nil {
		return nil, fmt.Errorf("seccomp trace: %w", err)
	}
	// MkdirTemp makes it 0700: only root reaches the socket.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "listener.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("seccomp trace: %w", err)
	}
	r := &Recorder{dir: dir, ln: ln, stop: make(chan struct{}), seen: map[string]int{}, nrs: map[uint32]string{}}
	for _, n := range seccomp.SyscallNames(specs.ArchX86_64) {
		nr, _ := seccomp.SyscallNumber(specs.ArchX86_64, n)
		if old, ok := r.nrs[nr]; !ok || n < old {
			r.nrs[nr] = n
		}
	}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Profile is the recording filter: every x86_64 syscall notifies the
// listener, but those in Unobservable, which are allowed.
func (r *Recorder) Profile() *specs.LinuxSeccomp {
	var notify []string
	for _, n := range seccomp.SyscallNames(specs.ArchX86_64) {
		if _, ok := Unobservable[n]; !ok {
			notify = append(notify, n)
		}
	}
	allow := make([]string, 0, len(Unobservable))
	for n := range Unobservable {
		allow = append(allow, n)
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		ListenerPath:  r.ln.Addr().String(),
		Syscalls: []specs.LinuxSyscall{
			{Names: allow, Action: specs.ActAllow},
			{Names: notify, Action: specs.ActNotify},
		},
	}
}

// Stop ends the recording and returns the names recorded, with counts.
func (r *Recorder) Stop() (map[string]int, error) {
	close(r.stop)
	r.ln.Close()
	r.wg.Wait()
	os.RemoveAll(r.dir)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen, r.err
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

// accept takes the runtime's connection, receives the notify fd and
// serves it.
func (r *Recorder) accept() {
	defer r.wg.Done()
	conn, err := r.ln.AcceptUnix()
	if err != nil {
		select {
		case <-r.stop:
		default:
			r.fail(fmt.Errorf("seccomp trace: accept: %w", err))
		}
		return
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		r.fail(fmt.Errorf("seccomp trace: read the listener message: %w", err))
		return
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		r.fail(fmt.Errorf("seccomp trace: listener message: %w", err))
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		r.fail(errors.New("seccomp trace: the listener message carries no fd"))
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		r.fail(errors.New("seccomp trace: the listener message carries no fd"))
		return
	}
	defer unix.Close(fds[0])
	r.serve(fds[0])
}

// seccomp_notif and seccomp_notif_resp (linux/seccomp.h).
type notif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type notifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func (r *Recorder) serve(fd int) {
	var (
		execSeen bool
		payload  = map[uint32]bool{} // tids that are the payload after execve
		before   = map[uint32]bool{} // tids seen before execve: the runtime's
	)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			r.fail(fmt.Errorf("seccomp trace: poll: %w", err))
			return
		}
		if n == 0 || err == unix.EINTR {
			select {
			case <-r.stop:
				return
			default:
			}
			continue
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: no process uses the filter any more
		}
		var req notif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
			if e == unix.EINTR || e == unix.ENOENT {
				continue // the caller went away before we read it
			}
			r.fail(fmt.Errorf("seccomp trace: receive notification: %w", e))
			return
		}
		name, known := r.nrs[uint32(req.nr)]
		if !known {
			name = "#" + strconv.Itoa(int(req.nr))
		}
		switch {
		case !execSeen && name == "execve":
			execSeen = true
			payload[req.pid] = true
			if tgid, ok := threadGroup(req.pid); ok {
				payload[tgid] = true
			}
			r.record(name, known)
		case !execSeen:
			before[req.pid] = true
		case payload[req.pid] || !before[req.pid]:
			r.record(name, known)
		}
		resp := notifResp{id: req.id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 && e != unix.ENOENT {
			r.fail(fmt.Errorf("seccomp trace: answer notification: %w", e))
			return
		}
	}
}

func (r *Recorder) record(name string, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if known {
		r.seen[name]++
	} else if !contains(r.extra, name) {
		r.extra = append(r.extra, name)
	}
}

// Unknown returns the syscall numbers recorded that have no name.
func (r *Recorder) Unknown() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.extra...)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// threadGroup reads a thread's thread group id from /proc.
func threadGroup(tid uint32) (uint32, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Tgid:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
}
