// Command bombs is the in-container resource attacker of the integration
// tests (test/integration/bombs_test.go). Each mode exhausts one kernel
// resource from inside a container, so that a test can check from the
// host that a limit stops it there:
//
//	bombs threads   start OS threads (goroutines locked to a thread that
//	                never return) until clone(2) fails; the Go runtime then
//	                dies with "failed to create new OS thread (have N
//	                already; errno=11)"
//	bombs fds       open /dev/null until open(2) fails, print
//	                "fds N ERR" (N descriptors opened, ERR the errno's
//	                name) and hold them open until killed
//
// Built with CGO_ENABLED=0: it runs in a rootfs with no libc.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bombs threads|fds")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "threads":
		threads()
	case "fds":
		fds()
	default:
		fmt.Fprintf(os.Stderr, "bombs: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

// threads never returns: each goroutine keeps its own OS thread blocked
// in a channel receive, so every one costs a task (a pid).
func threads() {
	// Go's own cap (10000 threads) must not be what stops the bomb.
	debug.SetMaxThreads(1 << 20)
	block := make(chan struct{})
	for n := 0; ; n++ {
		go func() {
			runtime.LockOSThread()
			<-block
		}()
		if n%64 == 0 {
			runtime.Gosched()
		}
	}
}

// fds uses raw open(2): os.Open would register each file with the
// runtime's poller, which takes descriptors of its own.
func fds() {
	// The runtime's poller (an epoll fd, used by time.Sleep below) must
	// exist before the table is full.
	time.Sleep(time.Millisecond)
	n := 0
	var err error
	for {
		var fd int
		fd, err = syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		_ = fd
		n++
		if n > 1<<20 {
			err = errors.New("no limit")
			break
		}
	}
	name := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) && errno == syscall.EMFILE {
		name = "EMFILE"
	}
	fmt.Printf("fds %d %s\n", n, name)
	for { // hold them: the host counts /proc/PID/fd
		time.Sleep(time.Hour)
	}
}
