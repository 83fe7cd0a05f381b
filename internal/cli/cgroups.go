package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/units"
)

// The cgroup verbs (wall 6): pause, resume, update, events.

func newPauseCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER_ID",
		Short: "Freeze every process of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withContainer(g, args[0], (*runtime.Container).Pause)
		},
	}
}

func newResumeCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume CONTAINER_ID",
		Short: "Thaw a paused container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withContainer(g, args[0], (*runtime.Container).Resume)
		},
	}
}

func withContainer(g *Globals, id string, f func(*runtime.Container) error) error {
	c, err := runtime.Load(g.Root, id)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

type updateFlags struct {
	resources                            string
	memory, reservation, swap, kernelTCP string
	cpuShares, cpuQuota, cpuPeriod       string
	rtPeriod, rtRuntime                  string
	cpusetCPUs, cpusetMems               string
	pidsLimit, blkioWeight               string
}

func newUpdateCmd(g *Globals) *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update [flags] CONTAINER_ID",
		Short: "Change the resource limits of a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := f.resourcesFrom(cmd)
			if err != nil {
				return err
			}
			return withContainer(g, args[0], func(c *runtime.Container) error { return c.Update(r) })
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.resources, "resources", "r", "", "path to a JSON file of linux.resources, or - for stdin")
	fl.StringVar(&f.memory, "memory", "", "memory limit (bytes, or with a b/k/m/g/t suffix, e.g. 1.5g; -1 unlimited)")
	fl.StringVar(&f.reservation, "memory-reservation", "", "memory soft limit")
	fl.StringVar(&f.swap, "memory-swap", "", "memory plus swap limit (-1 unlimited)")
	fl.StringVar(&f.kernelTCP, "kernel-memory-tcp", "", "kernel TCP buffer limit (cgroup v1)")
	fl.StringVar(&f.cpuShares, "cpu-shares", "", "CPU shares (relative weight)")
	fl.StringVar(&f.cpuQuota, "cpu-quota", "", "CPU CFS quota in microseconds per period")
	fl.StringVar(&f.cpuPeriod, "cpu-period", "", "CPU CFS period in microseconds")
	fl.StringVar(&f.rtPeriod, "cpu-rt-period", "", "realtime period in microseconds")
	fl.StringVar(&f.rtRuntime, "cpu-rt-runtime", "", "realtime runtime in microseconds")
	fl.StringVar(&f.cpusetCPUs, "cpuset-cpus", "", "CPUs allowed (0-3, 0,1)")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes allowed")
	fl.StringVar(&f.pidsLimit, "pids-limit", "", "maximum number of processes (-1 unlimited)")
	fl.StringVar(&f.blkioWeight, "blkio-weight", "", "block IO weight (10-1000)")
	return cmd
}

// resourcesFrom builds the update: the JSON file, with flags laid over it
// (runc's precedence).
func (f *updateFlags) resourcesFrom(cmd *cobra.Command) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if f.resources != "" {
		var in io.Reader = cmd.InOrStdin()
		if f.resources != "-" {
			file, err := os.Open(f.resources)
			if err != nil {
				return nil, err
			}
			defer file.Close()
			in = file
		}
		dec := json.NewDecoder(in)
		dec.DisallowUnknownFields()
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
	}
	var errs []string
	i64 := func(name, v string, size bool) *int64 {
		if v == "" {
			return nil
		}
		n, err := parseInt(v, size)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %v", name, err))
			return nil
		}
		return &n
	}
	u64 := func(name, v string) *uint64 {
		if n := i64(name, v, false); n != nil {
			if *n < 0 {
				errs = append(errs, fmt.Sprintf("--%s: must not be negative", name))
				return nil
			}
			x := uint64(*n)
			return &x
		}
		return nil
	}
	if f.memory != "" || f.reservation != "" || f.swap != "" || f.kernelTCP != "" {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		if v := i64("memory", f.memory, true); v != nil {
			r.Memory.Limit = v
		}
		if v := i64("memory-reservation", f.reservation, true); v != nil {
			r.Memory.Reservation = v
		}
		if v := i64("memory-swap", f.swap, true); v != nil {
			r.Memory.Swap = v
		}
		if v := i64("kernel-memory-tcp", f.kernelTCP, true); v != nil {
			r.Memory.KernelTCP = v
		}
	}
	if f.cpuShares != "" || f.cpuQuota != "" || f.cpuPeriod != "" || f.rtPeriod != "" || f.rtRuntime != "" || f.cpusetCPUs != "" || f.cpusetMems != "" {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		if v := u64("cpu-shares", f.cpuShares); v != nil {
			r.CPU.Shares = v
		}
		if v := i64("cpu-quota", f.cpuQuota, false); v != nil {
			r.CPU.Quota = v
		}
		if v := u64("cpu-period", f.cpuPeriod); v != nil {
			r.CPU.Period = v
		}
		if v := u64("cpu-rt-period", f.rtPeriod); v != nil {
			r.CPU.RealtimePeriod = v
		}
		if v := i64("cpu-rt-runtime", f.rtRuntime, false); v != nil {
			r.CPU.RealtimeRuntime = v
		}
		if f.cpusetCPUs != "" {
			r.CPU.Cpus = f.cpusetCPUs
		}
		if f.cpusetMems != "" {
			r.CPU.Mems = f.cpusetMems
		}
	}
	if v := i64("pids-limit", f.pidsLimit, false); v != nil {
		r.Pids = &specs.LinuxPids{Limit: v}
	}
	if v := u64("blkio-weight", f.blkioWeight); v != nil {
		w := uint16(*v)
		if r.BlockIO == nil {
			r.BlockIO = &specs.LinuxBlockIO{}
		}
		r.BlockIO.Weight = &w
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return r, nil
}

// parseInt reads an integer; with size, a size as `tirith run` reads one
// (units.ParseSize: Docker's units, fractions allowed).
func parseInt(s string, size bool) (int64, error) {
	if size {
		return units.ParseSize(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

func newEventsCmd(g *Globals) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [--stats] [--interval 5s] CONTAINER_ID",
		Short: "Stream a container's stats and OOM events as JSON lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			if stats {
				c, err := runtime.Load(g.Root, args[0])
				if err != nil {
					return err
				}
				defer c.Close()
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(cgroups.StatsEvent(args[0], s))
			}
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			return runtime.Events(ctx, g.Root, args[0], interval, func(e cgroups.Event) error { return enc.Encode(e) })
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print one stats event and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between stats events")
	return cmd
}
