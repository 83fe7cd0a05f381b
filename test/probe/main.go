// Command probe is the static in-container probe of the integration
// tests: it prints, as JSON, which walls the kernel shows it (see
// internal/probe). Built with CGO_ENABLED=0 so that it runs in a rootfs
// with no libc.
//
// `probe --try SYSCALL` instead attempts one syscall with harmless
// arguments and prints "ok" or the errno's name (EPERM, EINVAL, ...), so
// that tests can tell a seccomp denial from the kernel's own answer.
//
// For the network tests (busybox's nc has no UDP, its ping needs a raw
// socket): `probe --udp-echo PORT` echoes UDP datagrams forever, `probe
// --udp-send HOST:PORT MSG` prints the answer (exit 1 after 2 s without
// one), and `probe --ping IP` sends one ICMP echo from an unprivileged
// ICMP socket (exit 1 without a reply in 2 s).
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/probe"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "--try" {
		os.Exit(try(os.Args[2]))
	}
	if len(os.Args) > 2 && strings.HasPrefix(os.Args[1], "--udp-") || len(os.Args) > 2 && os.Args[1] == "--ping" {
		os.Exit(netTool(os.Args[1], os.Args[2:]))
	}
	r, err := probe.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "--text" {
		r.Print(os.Stdout)
		return
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		os.Exit(1)
	}
}

// trials are syscalls with arguments that change nothing: the kernel
// answers them (success or a plain argument error) unless a filter does.
var trials = map[string]func() unix.Errno{
	// KEYCTL_GET_KEYRING_ID of the session keyring, without creating it.
	"keyctl": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0)
		return e
	},
	// Zero entries: EINVAL from the kernel.
	"io_uring_setup": func() unix.Errno {
		var params [120]byte
		_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 0, uintptr(unsafe.Pointer(&params[0])), 0)
		return e
	},
	// UFFD_USER_MODE_ONLY (allowed without privilege whatever
	// vm.unprivileged_userfaultfd says) plus an invalid flag: EINVAL from
	// the kernel.
	"userfaultfd": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_USERFAULTFD, 1|0x80000000, 0, 0)
		return e
	},
	// An unknown command: EINVAL from the kernel.
	"bpf": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_BPF, 0xffff, 0, 0)
		return e
	},
	"getpid": func() unix.Errno {
		_, _, e := unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
		return e
	},
}

func try(name string) int {
	f, ok := trials[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "probe: --try: unknown syscall %q\n", name)
		return 2
	}
	e := f()
	if e == 0 {
		fmt.Println("ok")
	} else {
		fmt.Println(unix.ErrnoName(e))
	}
	return 0
}

func netTool(mode string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	switch {
	case mode == "--udp-echo":
		c, err := net.ListenPacket("udp", ":"+args[0])
		if err != nil {
			return fail(err)
		}
		b := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(b)
			if err != nil {
				return fail(err)
			}
			c.WriteTo(b[:n], from)
		}
	case mode == "--udp-send" && len(args) == 2:
		c, err := net.Dial("udp", args[0])
		if err != nil {
			return fail(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(args[1])); err != nil {
			return fail(err)
		}
		b := make([]byte, 2048)
		n, err := c.Read(b)
		if err != nil {
			return fail(err)
		}
		fmt.Println(string(b[:n]))
		return 0
	case mode == "--ping":
		c, err := icmp.ListenPacket("udp4", "0.0.0.0")
		if err != nil {
			return fail(err)
		}
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: 1, Data: []byte("tirith")}}
		wb, _ := msg.Marshal(nil)
		if _, err := c.WriteTo(wb, &net.UDPAddr{IP: net.ParseIP(args[0])}); err != nil {
			return fail(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rb := make([]byte, 1500)
		n, _, err := c.ReadFrom(rb)
		if err != nil {
			return fail(err)
		}
		if m, err := icmp.ParseMessage(1, rb[:n]); err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			return fail(fmt.Errorf("not an echo reply: %v", err))
		}
		fmt.Println("reply")
		return 0
	}
	fmt.Fprintln(os.Stderr, "probe: usage: --udp-echo PORT | --udp-send HOST:PORT MSG | --ping IP")
	return 2
}
