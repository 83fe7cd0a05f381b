package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/engine/idrange"
	"github.com/tirith-project/tirith/internal/engine/snapshot"
	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/exitcode"
	"github.com/tirith-project/tirith/internal/network/bridge"
	"github.com/tirith-project/tirith/internal/network/portproxy"
	"github.com/tirith-project/tirith/internal/network/slirp"
	"github.com/tirith-project/tirith/internal/rootless"
	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/spec"
)

// Prepared is a container whose record, rootfs, secrets and config.json
// exist, ready to be created by the runtime.
type Prepared struct {
	Record *Record
	Built  *specgen.Built
}

// Prepare does everything of `run` short of starting the container:
// claims the id and name, mounts the overlay, builds the hardened spec
// and writes the bundle. On error nothing is left behind.
func (e *Engine) Prepare(ctx context.Context, o *Options) (p *Prepared, err error) {
	st, err := e.OpenStore()
	if err != nil {
		return nil, err
	}
	img, err := resolveImage(st, o.Image)
	if err != nil {
		return nil, err
	}
	lowers, err := st.LayerDirs(img)
	if err != nil {
		return nil, err
	}
	noNewPrivs, err := specgen.NoNewPrivileges(o)
	if err != nil {
		return nil, err
	}
	// The rootless front end (internal/rootless): containers map its
	// namespace's ids as they are, no bridges, cgroups only delegated.
	if rootless.Inside() && specgen.IsBridgeNetwork(o.Network) {
		return nil, fmt.Errorf("--network %s: bridge networks need host root; a rootless container has --network slirp4netns or none", o.Network)
	}
	rec := &Record{
		Image: o.Image, ImageID: img.ID, Created: time.Now().UTC(), Status: StatusCreated,
		Detached: o.Detach, AutoRemove: o.Remove, TTY: o.TTY,
	}
	if err := e.newRecord(o.Name, rec, o.Userns != "host"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = e.cleanup(rec.ID)
		}
	}()
	if err := e.markBusy(rec.ID); err != nil {
		return nil, err
	}
	runtime.CrashPoint("after-record")
	// The upper dir's owner is container root's host uid: the first of
	// the container's own range, or host root with --userns=host.
	rootID := int(rec.IDBase)
	so := snapshot.Options{RootUID: rootID, RootGID: rootID, NoSuid: noNewPrivs, IDBase: rec.IDBase}
	if rec.IDBase != 0 {
		so.IDs = idrange.Size
	}
	if err := e.snapshot(rec.ID).Mount(lowers, so); err != nil {
		return nil, err
	}
	runtime.CrashPoint("after-overlay")
	peerNetNS, hostsFrom, err := e.peerNetwork(o.Network)
	if err != nil {
		return nil, err
	}
	if o.Network == "host" {
		hostsFrom = "/etc/hosts"
	}
	// A bridge network: the namespace is made and attached before the
	// spec names it; cleanup detaches it on any error below.
	var ep *bridge.Endpoint
	if specgen.IsBridgeNetwork(o.Network) {
		if ep, err = e.Networks().Attach(ctx, rec.ID, o.Network); err != nil {
			return nil, fmt.Errorf("--network %s: %w", o.Network, err)
		}
		runtime.CrashPoint("after-network")
	}
	if o.Network == specgen.Slirp {
		if ep, err = e.attachSlirp(rec.ID); err != nil {
			return nil, fmt.Errorf("--network %s: %w", o.Network, err)
		}
		runtime.CrashPoint("after-network")
	}
	in := specgen.SpecInput{Config: img.Config, Rootfs: e.rootfs(rec.ID), ID: rec.ID, SecretsSource: e.secrets(rec.ID), EtcSource: e.etc(rec.ID), PeerNetNS: peerNetNS}
	if ep != nil {
		in.NetNS = ep.NetNS
	}
	built, err := specgen.BuildSpec(in, o)
	if err != nil {
		return nil, err
	}
	if built.SeccompAuto {
		if err := e.autoSeccomp(img.ID, e.rootfs(rec.ID), built); err != nil {
			return nil, err
		}
	}
	if rec.IDBase != 0 {
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: rec.IDBase, Size: idrange.Size}}
		built.Spec.Linux.UIDMappings, built.Spec.Linux.GIDMappings = m, m
	}
	if rootless.Inside() {
		if err := rootlessSpec(rec.ID, built, o.Userns != "host"); err != nil {
			return nil, err
		}
	}
	// Before the mount targets: a file source gets a file target.
	var hosts, resolv []byte
	switch {
	case ep != nil && ep.Network == specgen.Slirp:
		// Alone behind slirp4netns, whose forwarder answers DNS.
		hosts, resolv = e.hostsBridge(built.Spec.Hostname, ep, true), []byte("nameserver "+slirp.DNS+"\n")
	case ep != nil:
		hosts, resolv = e.hostsBridge(built.Spec.Hostname, ep, e.isolated(ep.Network)), resolvConf()
	}
	if err := writeEtc(e.etc(rec.ID), built.Spec.Hostname, hostsFrom, hosts, resolv); err != nil {
		return nil, err
	}
	if err := makeMountTargets(e.rootfs(rec.ID), built.Spec.Mounts); err != nil {
		return nil, err
	}
	if err := writeSecrets(e.secrets(rec.ID), built.Secrets, built.Spec, built.User); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(built.Spec, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(e.Dir(rec.ID), spec.ConfigFile), data, 0o600); err != nil {
		return nil, err
	}
	rec, err = e.update(rec.ID, func(r *Record) {
		r.Cmd = built.Spec.Process.Args
		r.Relaxations = built.Relaxations
		r.Entrypoint, r.User = built.Entrypoint, built.UserSpec
		r.CapAdd, r.CapDrop, r.Seccomp = built.CapAdd, built.CapDrop, built.Seccomp
		for _, s := range built.Secrets {
			r.Secrets = append(r.Secrets, s.Target)
		}
		r.Hostname, r.Ports = built.Spec.Hostname, built.Ports
		if ep != nil {
			r.Network, r.IPAddress, r.IPPrefixLen, r.Gateway, r.MacAddress = ep.Network, ep.IP, ep.PrefixLen, ep.Gateway, ep.MAC
		}
	})
	if err != nil {
		return nil, err
	}
	if ep != nil && ep.Network != specgen.Slirp {
		// The other members learn the newcomer's name.
		e.refreshHosts(ep.Network)
	}
	runtime.CrashPoint("after-bundle")
	return &Prepared{Record: rec, Built: built}, nil
}

// Stdio is the container's standard streams in the foreground.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// RunForeground creates, starts and waits for a prepared container,
// forwarding signals, and returns its exit code (128+signal if killed).
// With a terminal, the container's pty is copied to and from our own
// stdio. The container is removed afterwards with Options.Remove.
func (e *Engine) RunForeground(p *Prepared, io Stdio) (int, error) {
	id := p.Record.ID
	fwd := runtime.ForwardSignals()
	o := runtime.CreateOptions{Bundle: e.Dir(id), Stdin: io.Stdin, Stdout: io.Stdout, Stderr: io.Stderr}
	var console *runtime.ConsoleReceiver
	if p.Record.TTY {
		var err error
		if console, err = runtime.NewConsoleReceiver(); err != nil {
			return e.failCreate(id, err)
		}
		defer console.Close()
		o.ConsoleSocket = console.Path
	}
	proxy, rec, err := e.publish(id)
	if err != nil {
		return e.failCreate(id, err)
	}
	pid, restore, err := e.createStart(id, o, console)
	if err != nil {
		closeProxy(proxy)
		return e.failCreate(id, err)
	}
	if proxy != nil {
		proxy.Serve(rec.IPAddress)
	}
	code, err := fwd.Wait(pid)
	restore()
	closeProxy(proxy)
	if err != nil {
		return exitcode.Tirith, err
	}
	return e.finish(id, code)
}

func closeProxy(p *portproxy.Proxy) {
	if p != nil {
		p.Close()
	}
}

// createStart creates and starts the container with the runtime and
// marks it running, with us as its monitor.
func (e *Engine) createStart(id string, o runtime.CreateOptions, console *runtime.ConsoleReceiver) (int, func(), error) {
	restore := func() {}
	c, err := runtime.Create(e.Root, id, o)
	if err != nil {
		return 0, restore, err
	}
	runtime.CrashPoint("after-create")
	if console != nil {
		if restore, err = console.Attach(); err != nil {
			c.Close()
			return 0, func() {}, err
		}
	}
	if err := c.Start(); err != nil {
		c.Close()
		restore()
		return 0, func() {}, err
	}
	runtime.CrashPoint("after-start")
	pid := c.State.Pid
	// Waiting must not hold the runtime's lock: kill and exec need it.
	c.Close()
	_, err = e.update(id, func(r *Record) {
		r.Status, r.Pid, r.MonitorPid, r.Started = StatusRunning, pid, os.Getpid(), time.Now().UTC()
	})
	return pid, restore, err
}

// failCreate removes a container the runtime could not create or start
// and maps the error to Docker's exit code.
func (e *Engine) failCreate(id string, err error) (int, error) {
	code := exitcode.Of(err)
	if cerr := e.cleanup(id); cerr != nil {
		err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
	}
	return code, &exitcode.Error{Code: code, Err: err}
}

// finish records how the container ended (exit code, OOM kill), removes
// its runtime state, and with --rm everything else.
func (e *Engine) finish(id string, code int) (int, error) {
	oom := false
	if c, err := runtime.Load(e.Root, id); err == nil {
		if n, err := c.OOMKills(); err == nil && n > 0 {
			oom = true
		}
		// The plan outlives the runtime state: inspect of an exited
		// container reports what was enforced.
		if a, err := c.Applied(); err == nil {
			_ = e.saveApplied(id, a)
		}
		_ = c.Delete(runtime.DeleteOptions{Force: true})
		c.Close()
	}
	// The network goes with the process (Docker releases the address
	// on exit too); a failure here is left to rm and prune.
	_ = e.detachNetwork(id)
	rec, err := e.update(id, func(r *Record) {
		r.Status, r.ExitCode, r.OOMKilled, r.Finished = StatusExited, code, oom, time.Now().UTC()
		r.Pid, r.MonitorPid = 0, 0
	})
	if err != nil {
		// `rm -f` may have removed the container meanwhile.
		return code, nil
	}
	if rec.AutoRemove {
		if err := e.cleanup(id); err != nil {
			return code, err
		}
	}
	return code, nil
}

// makeMountTargets creates, as host root, the destinations of mounts
// that would land directly in the image's filesystem and do not exist
// yet. The runtime would create them as container root, which may not
// write to image directories owned by host root (see doc.go). Created
// through pathrs: an image symlink cannot send the mkdir out of the
// rootfs. Targets under an earlier mount (e.g. /dev/pts) are the
// runtime's business.
func makeMountTargets(rootfs string, mounts []specs.Mount) error {
	var done []string
	for _, m := range mounts {
		if specgen.Under(m.Destination, done) {
			continue
		}
		done = append(done, m.Destination)
		if f, err := pathrs.OpenInRoot(rootfs, m.Destination); err == nil {
			f.Close()
			continue
		}
		isFile := false
		if m.Type == "bind" {
			if st, err := os.Stat(m.Source); err == nil && !st.IsDir() {
				isFile = true
			}
		}
		dir := m.Destination
		if isFile {
			dir = path.Dir(m.Destination)
		}
		root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		h, err := pathrs.MkdirAllHandle(root, dir, 0o755)
		root.Close()
		if err != nil {
			return fmt.Errorf("create mount target %s: %w", m.Destination, err)
		}
		if isFile {
			fd, err := unix.Openat(int(h.Fd()), path.Base(m.Destination), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err != nil {
				h.Close()
				return fmt.Errorf("create mount target %s: %w", m.Destination, err)
			}
			unix.Close(fd)
		}
		h.Close()
	}
	return nil
}
