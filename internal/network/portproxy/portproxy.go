// Package portproxy publishes a container's ports (-p): it parses the
// flag, binds the host side (127.0.0.1 unless an address is given) and
// relays TCP connections and UDP datagrams to the container's address.
// The relay runs in the process that lives as long as the container
// (the foreground `tirith run`, or a detached container's monitor): a
// real listening socket that `ss` shows, nothing forwarded past the
// firewall, gone when the container is.
package portproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tirith-project/tirith/internal/network/netns"
)

// Mapping is one published port.
type Mapping struct {
	HostIP        string `json:"hostIP"`
	HostPort      int    `json:"hostPort"` // 0 before binding: a random port
	ContainerPort int    `json:"containerPort"`
	Proto         string `json:"proto"` // tcp or udp
}

// String is Docker's `docker port` form: 80/tcp -> 127.0.0.1:8080.
func (m Mapping) String() string {
	return fmt.Sprintf("%d/%s -> %s", m.ContainerPort, m.Proto, net.JoinHostPort(m.HostIP, strconv.Itoa(m.HostPort)))
}

// Short is `docker ps`'s form: 127.0.0.1:8080->80/tcp.
func (m Mapping) Short() string {
	return fmt.Sprintf("%s->%d/%s", net.JoinHostPort(m.HostIP, strconv.Itoa(m.HostPort)), m.ContainerPort, m.Proto)
}

// AllInterfaces reports whether the port is bound on every address.
func (m Mapping) AllInterfaces() bool {
	a, err := netip.ParseAddr(m.HostIP)
	return err == nil && a.IsUnspecified()
}

// Parse reads a -p value: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]
// (HOSTIP may be [IPv6]; an empty or absent HOSTPORT is a random one).
func Parse(v string) (Mapping, error) {
	bad := func(why string) (Mapping, error) {
		return Mapping{}, fmt.Errorf("-p %q: %s; want [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]", v, why)
	}
	m := Mapping{HostIP: "127.0.0.1", Proto: "tcp"}
	rest := v
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		m.Proto, rest = rest[i+1:], rest[:i]
		if m.Proto != "tcp" && m.Proto != "udp" {
			return bad("protocol " + strconv.Quote(m.Proto) + " is not tcp or udp")
		}
	}
	var parts []string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return bad("unclosed [IPv6 address]")
		}
		parts = append([]string{rest[1:end]}, strings.Split(rest[end+2:], ":")...)
	} else {
		parts = strings.Split(rest, ":")
	}
	port := func(s string, zeroOK bool) (int, bool) {
		if s == "" && zeroOK {
			return 0, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1 && n <= 65535
	}
	var ok bool
	switch len(parts) {
	case 1:
		m.ContainerPort, ok = port(parts[0], false)
	case 2:
		if m.HostPort, ok = port(parts[0], false); ok {
			m.ContainerPort, ok = port(parts[1], false)
		}
	case 3:
		a, err := netip.ParseAddr(parts[0])
		if err != nil || a.Zone() != "" {
			return bad("host address " + strconv.Quote(parts[0]) + " is not an IP address")
		}
		m.HostIP = a.String()
		if m.HostPort, ok = port(parts[1], true); ok {
			m.ContainerPort, ok = port(parts[2], false)
		}
	default:
		return bad("too many colons")
	}
	if !ok {
		return bad("a port must be a number from 1 to 65535")
	}
	return m, nil
}

// Proxy holds the bound host sockets of one container.
type Proxy struct {
	Mappings []Mapping // with the host ports the kernel chose
	// NetNS, if set, is the container's network namespace: connections
	// to it are made from inside (slirp4netns gives it an address only
	// its own namespace routes to).
	NetNS  string
	tcp    []net.Listener
	udp    []net.PacketConn
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[io.Closer]bool
	closed bool
}

// Listen binds every mapping's host side. On error nothing stays bound.
func Listen(ms []Mapping) (*Proxy, error) {
	p := &Proxy{conns: map[io.Closer]bool{}}
	seen := map[string]bool{}
	for _, m := range ms {
		addr := net.JoinHostPort(m.HostIP, strconv.Itoa(m.HostPort))
		if m.HostPort != 0 && seen[m.Proto+addr] {
			p.Close()
			return nil, fmt.Errorf("-p: %s/%s is published twice", addr, m.Proto)
		}
		seen[m.Proto+addr] = true
		var err error
		if m.Proto == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				p.udp = append(p.udp, c)
				m.HostPort = c.LocalAddr().(*net.UDPAddr).Port
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				p.tcp = append(p.tcp, l)
				m.HostPort = l.Addr().(*net.TCPAddr).Port
			}
		}
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("-p %s:%d/%s: %w", addr, m.ContainerPort, m.Proto, err)
		}
		p.Mappings = append(p.Mappings, m)
	}
	return p, nil
}

// Serve relays to the container at ip until Close.
func (p *Proxy) Serve(ip string) {
	ti, ui := 0, 0
	for _, m := range p.Mappings {
		target := net.JoinHostPort(ip, strconv.Itoa(m.ContainerPort))
		p.wg.Add(1)
		if m.Proto == "udp" {
			go p.serveUDP(p.udp[ui], target)
			ui++
		} else {
			go p.serveTCP(p.tcp[ti], target)
			ti++
		}
	}
}

func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serveTCP(l net.Listener, target string) {
	defer p.wg.Done()
	for {
		in, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like
			continue
		}
		go func() {
			if !p.track(in) {
				return
			}
			defer p.untrack(in)
			out, err := p.dial("tcp", target)
			if err != nil {
				return
			}
			if !p.track(out) {
				return
			}
			defer p.untrack(out)
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, src)
				if c, ok := dst.(*net.TCPConn); ok {
					c.CloseWrite() // half-close, as the client did
				}
				done <- struct{}{}
			}
			go pipe(out, in)
			go pipe(in, out)
			<-done
			<-done
		}()
	}
}

// udpIdle is how long a UDP client's relay socket lives without traffic.
const udpIdle = 60 * time.Second

func (p *Proxy) serveUDP(l net.PacketConn, target string) {
	defer p.wg.Done()
	var mu sync.Mutex
	clients := map[string]net.Conn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := l.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		mu.Lock()
		out, ok := clients[from.String()]
		if !ok {
			if out, err = p.dial("udp", target); err != nil || !p.track(out) {
				mu.Unlock()
				continue
			}
			clients[from.String()] = out
			go func(from net.Addr, out net.Conn) {
				defer func() {
					mu.Lock()
					delete(clients, from.String())
					mu.Unlock()
					p.untrack(out)
				}()
				rb := make([]byte, 65535)
				for {
					out.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := out.Read(rb)
					if err != nil {
						var ne net.Error
						if errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
							return
						}
						continue // ICMP unreachable: the container may listen later
					}
					l.WriteTo(rb[:n], from)
				}
			}(from, out)
		}
		mu.Unlock()
		out.Write(buf[:n])
	}
}

// dial connects to the container, from inside p.NetNS if set: a socket
// belongs to the namespace of the thread that made it, and stays there.
func (p *Proxy) dial(network, target string) (c net.Conn, err error) {
	if p.NetNS == "" {
		return net.DialTimeout(network, target, 10*time.Second)
	}
	err = netns.Do(p.NetNS, func() (err error) {
		c, err = net.DialTimeout(network, target, 10*time.Second)
		return err
	})
	return c, err
}

// Close unbinds every port and ends every relayed connection.
func (p *Proxy) Close() {
	for _, l := range p.tcp {
		l.Close()
	}
	for _, c := range p.udp {
		c.Close()
	}
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
