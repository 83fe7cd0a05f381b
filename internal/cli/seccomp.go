package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// NewSeccompCmd returns "seccomp", the profile tooling: compile a profile
// and show its cost, or check that it is valid.
func NewSeccompCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seccomp",
		Short: "Compile, check and generate seccomp profiles",
		Long: `Compile, check and generate seccomp profiles.

PROFILE is a file in Docker's seccomp format, an OCI linux.seccomp object, an
OCI config.json, or the word "default" for Tirith's default profile.`,
	}
	cmd.AddCommand(newSeccompCompileCmd(), newSeccompCheckCmd(), newSeccompGenerateCmd(g), newSeccompExplainCmd(), newSeccompDiffCmd())
	return cmd
}

type seccompCompileOptions struct {
	arch    string
	caps    []string
	kernel  string
	disasm  bool
	profile string
}

func newSeccompCompileCmd() *cobra.Command {
	o := &seccompCompileOptions{}
	cmd := &cobra.Command{
		Use:   "compile PROFILE",
		Short: "Compile a profile to seccomp-bpf and print its statistics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.profile = args[0]
			return runSeccompCompile(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH to compile for (amd64, arm64, 386, arm)")
	f.StringSliceVar(&o.caps, "cap", nil, "capability the container has (repeatable), for Docker includes/excludes and the default profile")
	f.StringVar(&o.kernel, "kernel", "", "kernel release for Docker minKernel conditions (default: the running kernel)")
	f.BoolVar(&o.disasm, "disasm", false, "print the disassembled filter")
	return cmd
}

func runSeccompCompile(out io.Writer, o *seccompCompileOptions) error {
	if o.kernel == "" {
		o.kernel = seccompKernelRelease()
	}
	cfg, err := seccompLoad(o.profile, o.caps, o.arch, o.kernel)
	if err != nil {
		return err
	}
	p, err := seccomp.Compile(cfg, o.arch)
	if err != nil {
		return fmt.Errorf("compile %s: %w", o.profile, err)
	}
	fmt.Fprintf(out, "arch:            %s\n", p.Arch)
	fmt.Fprintf(out, "instructions:    %d\n", p.Stats.Instructions)
	fmt.Fprintf(out, "max path length: %d\n", p.Stats.MaxPathLength)
	fmt.Fprintf(out, "syscalls:        %d\n", p.Stats.Syscalls)
	if len(p.Stats.Unknown) > 0 {
		fmt.Fprintf(out, "ignored (unknown on %s): %s\n", o.arch, strings.Join(p.Stats.Unknown, " "))
	}
	if p.Notify {
		fmt.Fprintln(out, "notify:          yes (a listener fd is created)")
	}
	if o.disasm {
		fmt.Fprintln(out)
		fmt.Fprint(out, p.Disassemble())
	}
	return nil
}

func newSeccompCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check PROFILE",
		Short: "Validate a profile; print ok or the error naming the field or line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := seccompLoad(args[0], nil, runtime.GOARCH, seccompKernelRelease()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
}

// seccompLoad reads, parses, resolves and validates a profile.
func seccompLoad(profile string, caps []string, goarch, kernel string) (*specs.LinuxSeccomp, error) {
	if profile == "default" {
		return seccomp.Default(caps), nil
	}
	data, err := os.ReadFile(profile)
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	p, err := seccomp.ParseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profile, err)
	}
	cfg := p.Resolve(caps, goarch, kernel)
	if err := seccomp.Validate(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", profile, err)
	}
	return cfg, nil
}

func seccompKernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
