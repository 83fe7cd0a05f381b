package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/seccomp/profgen"
	"github.com/tirith-project/tirith/internal/seccomp/static"
)

type seccompGenerateOptions struct {
	binary string
	rootfs string
	out    string
	strict bool
	beyond bool
}

func newSeccompGenerateCmd() *cobra.Command {
	o := &seccompGenerateOptions{}
	cmd := &cobra.Command{
		Use:   "generate --from-binary FILE [--rootfs DIR] [--out profile.json] [--strict]",
		Short: "Generate a seccomp profile from a program",
		Long: `Generate a seccomp profile (Docker's format) that allows the syscalls a
program can make and refuses the rest with EPERM.

--from-binary analyses an x86_64 ELF executable statically: Go binaries
(also stripped ones, through their pclntab), static C binaries, and dynamic
ones with the interpreter and shared libraries found under --rootfs. Each
rule's comment says where the syscall came from. Sites whose number cannot
be recovered are listed; --strict then fails, otherwise Tirith's default
profile is added as a safe superset, with a warning.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSeccompGenerate(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.binary, "from-binary", "", "ELF executable to analyse")
	f.StringVar(&o.rootfs, "rootfs", "", "root filesystem the binary runs in, for its shared libraries")
	f.StringVarP(&o.out, "out", "o", "", "write the profile here (default: standard output)")
	f.BoolVar(&o.strict, "strict", false, "fail when any syscall site is unresolved instead of adding the default profile")
	f.BoolVar(&o.beyond, "beyond-default", false, "keep syscalls the default profile refuses (mount, keyctl, ptrace, ...) instead of leaving them out")
	return cmd
}

func runSeccompGenerate(stdout, stderr io.Writer, o *seccompGenerateOptions) error {
	if o.binary == "" {
		return errors.New("seccomp generate: --from-binary FILE is required")
	}
	res, err := static.Analyze(o.binary, static.Options{Rootfs: o.rootfs})
	if err != nil {
		return fmt.Errorf("seccomp generate: %w", err)
	}
	p, warnings, err := res.Profile(o.strict)
	if err != nil {
		return fmt.Errorf("seccomp generate: %s: %w", o.binary, err)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "tirith: note: %s\n", n)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "tirith: warning: %s\n", w)
	}
	fmt.Fprintf(stderr, "tirith: %s (%s): %d syscalls found in %d functions of %d file(s) in %s\n",
		o.binary, res.Kind, len(res.Syscalls), res.Functions, len(res.Objects), res.Elapsed.Round(1e6))
	p.BeyondDefault = o.beyond
	return writeProfile(stdout, stderr, o.out, p)
}

// writeProfile writes a generated profile to path (atomically; it is no
// secret, so 0644) or to stdout.
func writeProfile(stdout, stderr io.Writer, path string, p *profgen.Profile) error {
	data, refused, err := profgen.Write(p)
	if err != nil {
		return err
	}
	if len(refused) > 0 {
		fmt.Fprintf(stderr, "tirith: warning: left out, as the default profile refuses them: %s (--beyond-default keeps them)\n", strings.Join(refused, " "))
	} else if p.BeyondDefault {
		fmt.Fprintln(stderr, "tirith: warning: --beyond-default: the profile may allow syscalls the default profile refuses (wall 3 relaxed)")
	}
	if path == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}
