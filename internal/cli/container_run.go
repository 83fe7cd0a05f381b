package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/exitcode"
	"github.com/tirith-project/tirith/internal/network/bridge"
	"github.com/tirith-project/tirith/internal/network/slirp"
	"github.com/tirith-project/tirith/internal/rootless"
)

func newFrontRunCmd(g *Globals) *cobra.Command {
	rf := &runFlags{o: engine.Options{ReadOnly: true}}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Run a command in a new container from an image, every wall up",
		Long: "Run a command in a new container from an image, with Docker's flags and every wall up by default.\n" +
			"Each flag that weakens a wall is printed as a warning. The built-in image tirith/demo needs no network.\n" +
			"Containers join the store's default network, bridge, unless --network says otherwise (--network none: loopback only).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := rf.options(cmd, g, args)
			if err != nil {
				return frontEndError(cmd, err)
			}
			return frontEndError(cmd, runImage(cmd, g, o))
		},
	}
	dockerFlagErrors(cmd)
	rf.register(cmd)
	return cmd
}

// runFlags are run's flags, shared with `seccomp generate --trace`.
type runFlags struct {
	o           engine.Options
	entrypoint  string
	pull        string
	insecure    []string
	pids        int64
	imagePolicy string // --image-policy
	sigPol      string // --signature-policy
}

// options completes the options from the flags and IMAGE [CMD...], pulls
// the image if the --pull policy says so, and checks it against the
// signature policy and the image policy before anything is created.
func (rf *runFlags) options(cmd *cobra.Command, g *Globals, args []string) (*engine.Options, error) {
	o := rf.o
	o.Image, o.Cmd = args[0], args[1:]
	if !cmd.Flags().Changed("network") && rootless.Inside() {
		// Bridges need host root: a rootless container goes out
		// through slirp4netns where it can, else has loopback only.
		o.Network = specgen.Slirp
		if err := slirp.Usable(); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: %v: running with --network none, loopback only\n", err)
			o.Network = "none"
		}
	} else if !cmd.Flags().Changed("network") && len(o.Publish) == 0 {
		// The default network needs the CNI plugins: without them a
		// first run still works, on loopback only. Asked for (or with
		// -p), bridge fails naming the package instead.
		if err := newEngine(g).Networks().CheckPlugins(); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: the CNI plugins are missing (install %s): running with --network none, loopback only\n", bridge.PluginPackage)
			o.Network = "none"
		}
	}
	if cmd.Flags().Changed("entrypoint") {
		o.Entrypoint = &rf.entrypoint
	}
	if cmd.Flags().Changed("pids-limit") {
		o.PidsLimit = &rf.pids
	}
	o.LookupEnv = os.LookupEnv
	pol, err := loadPolicy(rf.sigPol)
	if err != nil {
		return nil, err
	}
	if err := pullForRun(cmd.Context(), g, o.Image, rf.pull, rf.insecure, pol, cmd.ErrOrStderr()); err != nil {
		return nil, err
	}
	if err := checkStoredImage(g, o.Image, pol); err != nil {
		return nil, err
	}
	if err := applyImagePolicy(cmd, g, o.Image, rf.imagePolicy); err != nil {
		return nil, err
	}
	return &o, nil
}

func (rf *runFlags) register(cmd *cobra.Command) {
	o := &rf.o
	f := cmd.Flags()
	// Flags end at the image name: what follows is the container's
	// command, flags included.
	f.SetInterspersed(false)
	f.BoolVarP(&o.Detach, "detach", "d", false, "run in the background and print the container id")
	f.BoolVar(&o.Remove, "rm", false, "remove the container when it exits")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&o.TTY, "tty", "t", false, "allocate a pseudo-terminal")
	f.StringVar(&o.Name, "name", "", "container name")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to pass ours)")
	f.StringArrayVar(&o.EnvFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.User, "user", "u", "", "USER[:GROUP], names or numbers (default: the image's USER)")
	f.StringVar(&rf.entrypoint, "entrypoint", "", "replace the image's ENTRYPOINT (and reset its CMD)")
	f.StringArrayVarP(&o.Volumes, "volume", "v", nil, "bind mount HOST_PATH:CONTAINER_PATH[:ro]")
	f.StringArrayVar(&o.Tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS]")
	f.BoolVar(&o.ReadOnly, "read-only", true, "mount the root filesystem read-only (--read-only=false is a relaxation)")
	f.StringArrayVar(&o.CapAdd, "cap-add", nil, "add a capability (relaxation)")
	f.StringArrayVar(&o.CapDrop, "cap-drop", nil, "drop a capability")
	f.StringArrayVar(&o.SecurityOpts, "security-opt", nil, "seccomp=FILE|unconfined, no-new-privileges=false, landlock=FILE|off, apparmor=PROFILE|unconfined, label=disable, setgroups=deny")
	f.BoolVar(&o.Privileged, "privileged", false, "drop walls 2, 3, 4 and 7 (relaxation; the user namespace stays)")
	f.StringVar(&o.Userns, "userns", "auto", "auto: a private range of host ids (default); host: no user namespace (relaxation)")
	f.StringVarP(&o.Memory, "memory", "m", "", "memory limit (default 512m; 0 for none, a relaxation)")
	f.StringVar(&o.MemorySwap, "memory-swap", "", "memory plus swap limit (default: = --memory, no swap; -1 unlimited)")
	f.StringVar(&o.CPUs, "cpus", "", "number of CPUs (e.g. 1.5)")
	f.Int64VarP(&o.CPUShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&rf.pids, "pids-limit", 0, "process limit (default 1024; 0 or -1 for none, a relaxation)")
	f.StringArrayVar(&o.Devices, "device", nil, "expose a host device: HOST[:CONTAINER[:rwm]] (relaxation)")
	f.StringVarP(&o.Hostname, "hostname", "h", "", "container hostname (default: the short container id)")
	f.StringVar(&o.Network, "network", bridge.DefaultName, "bridge (the store's default network: isolated from other containers, egress masqueraded; none, with a warning, when the CNI plugins are missing), slirp4netns (rootless: the default there), none (only loopback), a network from tirith network create, host or container:NAME (relaxations)")
	f.StringArrayVarP(&o.Publish, "publish", "p", nil, "publish a port: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp] (HOSTIP 127.0.0.1 unless given)")
	f.StringArrayVar(&o.Secrets, "secret", nil, "a file on a tmpfs at /run/secrets: SRC[,target=NAME,mode=0400,uid=N,gid=N]")
	f.StringArrayVar(&o.Ulimits, "ulimit", nil, "resource limit NAME=SOFT[:HARD], e.g. nofile=1024:2048")
	f.StringVar(&rf.pull, "pull", "missing", "pull the image: missing (when not in the store), always, never")
	f.StringArrayVar(&rf.insecure, "insecure-registry", nil, "with --pull: allow plain http to this registry (HOST or HOST:PORT)")
	f.StringVar(&rf.imagePolicy, "image-policy", "", "audit the image before the run: warn, refuse or off (default: the config file's ($TIRITH_CONFIG, else /etc/tirith/config.json), else warn)")
	signaturePolicyFlag(cmd, &rf.sigPol)
	// -h is --hostname, as in Docker; help stays --help.
	cmd.Flags().BoolP("help", "", false, "help")
}

func runImage(cmd *cobra.Command, g *Globals, o *engine.Options) error {
	e := newEngine(g)
	p, err := e.Prepare(context.Background(), o)
	if err != nil {
		return err
	}
	for _, w := range p.Built.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: %s\n", w)
	}
	for _, r := range p.Built.Relaxations {
		fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: %s\n", r)
	}
	if o.Detach {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if err := e.StartDetached(p, self, []string{"--root", g.Root, "--storage", g.Storage}); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), p.Record.ID)
		return nil
	}
	stdin := os.Stdin
	if !o.Interactive {
		if stdin, err = os.Open(os.DevNull); err != nil {
			return err
		}
		defer stdin.Close()
	}
	code, err := e.RunForeground(p, engine.Stdio{Stdin: stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

func newMonitorCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:    engine.MonitorCommand + " ID",
		Short:  "Monitor of a detached container (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := newEngine(g)
			// fd 3 is the report pipe to `run -d` (engine.StartDetached).
			report := os.NewFile(3, "report")
			if err := e.Monitor(args[0], report); err != nil {
				// Our stderr is the container's log: say who speaks.
				fmt.Fprintf(os.Stderr, "tirith monitor: %v\n", err)
				return &ExitError{Code: exitcode.Tirith}
			}
			return nil
		},
	}
}
