package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/runtime"
)

type execFlags struct {
	processFile   string
	consoleSocket string
	pidFile       string
	detach        bool
	tty           bool
	env           []string
	cwd           string
	user          string
	additionalGID []int
	caps          []string
	noNewPrivs    bool
	preserveFDs   int
	apparmor      string
	label         string
}

func newExecCmd(g *Globals) *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER_ID [COMMAND [ARGS...]]",
		Short: "Run a new process inside a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runtime.Load(g.Root, args[0])
			if err != nil {
				return err
			}
			p, err := execProcess(c.Spec().Process, &f, args[1:], cmd.Flags().Changed("no-new-privs"))
			if err != nil {
				c.Close()
				return err
			}
			o := runtime.ExecOptions{Process: p, ConsoleSocket: f.consoleSocket, PidFile: f.pidFile, PreserveFDs: f.preserveFDs}
			var console *runtime.ConsoleReceiver
			if p.Terminal && o.ConsoleSocket == "" && !f.detach {
				if console, err = runtime.NewConsoleReceiver(); err != nil {
					c.Close()
					return err
				}
				defer console.Close()
				o.ConsoleSocket = console.Path
			}
			proc, err := c.Exec(o)
			c.Close()
			if err != nil {
				return err
			}
			if f.detach {
				return nil
			}
			restore := func() {}
			if console != nil {
				if restore, err = console.Attach(); err != nil {
					return err
				}
			}
			code, err := runtime.Wait(proc.Pid)
			restore()
			if err != nil {
				return err
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVarP(&f.processFile, "process", "p", "", "path to a process.json (runtime-spec process object)")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the process's pid to")
	fl.BoolVarP(&f.detach, "detach", "d", false, "do not wait for the process")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	fl.StringVar(&f.cwd, "cwd", "", "working directory in the container")
	fl.StringVarP(&f.user, "user", "u", "", "UID[:GID] to run as")
	fl.IntSliceVarP(&f.additionalGID, "additional-gids", "g", nil, "additional gids")
	fl.StringArrayVarP(&f.caps, "cap", "c", nil, "add a capability to the bounding, effective and permitted sets")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N extra fds (from fd 3 on) to the process")
	fl.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile for the process")
	fl.StringVar(&f.label, "process-label", "", "SELinux label for the process")
	return cmd
}

// execProcess builds the exec'd process: from --process, or from the
// container's own process with the flags applied (runc's rules).
func execProcess(base *specs.Process, f *execFlags, args []string, nnpSet bool) (*specs.Process, error) {
	if f.processFile != "" {
		data, err := os.ReadFile(f.processFile)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", f.processFile, err)
		}
		return &p, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("exec: a command is required (or --process)")
	}
	p := *base
	p.Args = args
	p.Terminal = f.tty
	p.ConsoleSize = nil
	p.Env = append(append([]string{}, base.Env...), f.env...)
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.user != "" {
		u, g, hasG := strings.Cut(f.user, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want UID[:GID] as numbers", f.user)
		}
		p.User.UID = uint32(uid)
		if hasG {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: want UID[:GID] as numbers", f.user)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, g := range f.additionalGID {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if len(f.caps) > 0 {
		c := specs.LinuxCapabilities{}
		if base.Capabilities != nil {
			c = *base.Capabilities
		}
		for _, n := range f.caps {
			name, err := caps.FromFlag(n)
			if err != nil {
				return nil, fmt.Errorf("--cap: %w", err)
			}
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
			// Ambient caps need the inheritable bit, which --cap
			// does not grant; raise them only where the spec already
			// has inheritable caps (runc's rule).
			if c.Inheritable != nil {
				c.Ambient = append(c.Ambient, name)
			}
		}
		p.Capabilities = &c
	}
	if nnpSet {
		p.NoNewPrivileges = f.noNewPrivs
	}
	if f.apparmor != "" {
		p.ApparmorProfile = f.apparmor
	}
	if f.label != "" {
		p.SelinuxLabel = f.label
	}
	return &p, nil
}
