package cli

import (
	"fmt"
	"os"
	"runtime"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/seccomp/profgen"
)

// seccompProfile reads a profile file, or the default one, unresolved.
func seccompProfile(name string, caps []string) (*seccomp.Profile, error) {
	if name == "default" {
		d := seccomp.Default(caps)
		p := &seccomp.Profile{DefaultAction: d.DefaultAction, DefaultErrnoRet: d.DefaultErrnoRet, Architectures: d.Architectures}
		for _, r := range d.Syscalls {
			p.Syscalls = append(p.Syscalls, seccomp.Syscall{LinuxSyscall: r, Comment: "Tirith's default profile"})
		}
		return p, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	p, err := seccomp.ParseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func newSeccompExplainCmd() *cobra.Command {
	var caps []string
	var arch string
	cmd := &cobra.Command{
		Use:   "explain PROFILE SYSCALL",
		Short: "Say whether a profile allows a syscall, by which rule, and where the rule came from",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := seccompProfile(args[0], caps)
			if err != nil {
				return err
			}
			out, err := profgen.Explain(p, args[1], caps, arch, seccompKernelRelease())
			if err != nil {
				return fmt.Errorf("seccomp explain: %w", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&caps, "cap", nil, "capability the container has (repeatable), for Docker includes/excludes")
	cmd.Flags().StringVar(&arch, "arch", runtime.GOARCH, "GOARCH")
	return cmd
}

func newSeccompDiffCmd() *cobra.Command {
	var caps []string
	var arch string
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "List the syscalls two profiles treat differently (A's verdict | B's)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfgs [2]*seccomp.Profile
			for i, a := range args {
				p, err := seccompProfile(a, caps)
				if err != nil {
					return err
				}
				cfgs[i] = p
			}
			kernel := seccompKernelRelease()
			a, b := cfgs[0].Resolve(caps, arch, kernel), cfgs[1].Resolve(caps, arch, kernel)
			out := cmd.OutOrStdout()
			if !slices.Equal(a.Architectures, b.Architectures) {
				fmt.Fprintf(out, "architectures: %v | %v\n", a.Architectures, b.Architectures)
			}
			lines, err := profgen.Diff(a, b, arch)
			if err != nil {
				return fmt.Errorf("seccomp diff: %w", err)
			}
			for _, l := range lines {
				fmt.Fprintln(out, l)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&caps, "cap", nil, "capability the container has (repeatable), for Docker includes/excludes")
	cmd.Flags().StringVar(&arch, "arch", runtime.GOARCH, "GOARCH")
	return cmd
}
