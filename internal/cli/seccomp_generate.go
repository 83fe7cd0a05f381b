package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/seccomp/profgen"
	"github.com/tirith-project/tirith/internal/seccomp/static"
	"github.com/tirith-project/tirith/internal/seccomp/trace"
)

type seccompGenerateOptions struct {
	trace  bool
	merge  bool
	binary string
	rootfs string
	out    string
	strict bool
	beyond bool
}

func newSeccompGenerateCmd(g *Globals) *cobra.Command {
	o := &seccompGenerateOptions{}
	rf := &runFlags{o: engine.Options{ReadOnly: true}}
	cmd := &cobra.Command{
		Use: "generate --from-binary FILE [--rootfs DIR] [--out profile.json] [--strict]\n" +
			"  tirith seccomp generate --trace [--out profile.json [--merge]] [RUN FLAGS] IMAGE [COMMAND] [ARG...]",
		Short: "Generate a seccomp profile from a program",
		Long: `Generate a seccomp profile (Docker's format) that allows the syscalls a
program can make and refuses the rest with EPERM.

--from-binary analyses an x86_64 ELF executable statically: Go binaries
(also stripped ones, through their pclntab), static C binaries, and dynamic
ones with the interpreter and shared libraries found under --rootfs. Each
rule's comment says where the syscall came from. Sites whose number cannot
be recovered are listed; --strict then fails, otherwise Tirith's default
profile is added as a safe superset, with a warning.

--trace runs IMAGE (with run's flags) under a recording filter: every
syscall the payload makes after its execve is recorded and let through
(seccomp user notification, answered by this process). The profile holds
what was seen; --merge adds it to the profile already at --out, so that
several runs can be united.

Either way the profile allows nothing the default profile refuses, unless
--beyond-default.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !o.trace {
				if len(args) > 0 {
					return fmt.Errorf("seccomp generate: unexpected arguments %q (IMAGE needs --trace)", args)
				}
				return runSeccompGenerate(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
			}
			if o.binary != "" {
				return errors.New("seccomp generate: --trace and --from-binary exclude each other")
			}
			if len(args) == 0 {
				return errors.New("seccomp generate --trace: IMAGE is required")
			}
			ro, err := rf.options(cmd, g, args)
			if err != nil {
				return frontEndError(cmd, err)
			}
			return frontEndError(cmd, runSeccompTrace(cmd, g, o, ro))
		},
	}
	dockerFlagErrors(cmd)
	rf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.trace, "trace", false, "record the syscalls of a run of IMAGE")
	f.BoolVar(&o.merge, "merge", false, "with --trace: add to the profile at --out instead of replacing it")
	f.StringVar(&o.binary, "from-binary", "", "ELF executable to analyse")
	f.StringVar(&o.rootfs, "rootfs", "", "root filesystem the binary runs in, for its shared libraries")
	f.StringVar(&o.out, "out", "", "write the profile here (default: standard output)")
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

// runSeccompTrace runs the workload under the recording filter and writes
// the profile of what it did.
func runSeccompTrace(cmd *cobra.Command, g *Globals, o *seccompGenerateOptions, ro *engine.Options) error {
	if ro.Detach {
		return errors.New("seccomp generate --trace: -d is not supported: the trace lasts as long as the run")
	}
	if ro.Privileged {
		return errors.New("seccomp generate --trace: --privileged runs without seccomp, so nothing can be recorded")
	}
	if o.out == "" {
		// Standard output is the workload's.
		return errors.New("seccomp generate --trace: --out FILE is required")
	}
	var base profgen.Set
	if o.merge {
		data, err := os.ReadFile(o.out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--merge: %w", err)
		}
		if err == nil {
			if base, err = profgen.Read(data); err != nil {
				return fmt.Errorf("--merge: %s: %w", o.out, err)
			}
		}
	}
	rec, err := trace.NewRecorder()
	if err != nil {
		return err
	}
	ro.Remove = true
	ro.Seccomp = &engine.SeccompOverride{
		Profile: rec.Profile(), Name: "trace", Flag: "seccomp generate --trace",
		Relaxation: "the recording filter lets every syscall through (each one is recorded)",
	}
	runErr := runImage(cmd, g, ro)
	seen, err := rec.Stop()
	if err != nil {
		return err
	}
	var exit *ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return runErr
	}
	if len(seen) == 0 {
		return errors.New("seccomp generate --trace: nothing was recorded (the payload never started?)")
	}
	what := strings.Join(append([]string{ro.Image}, ro.Cmd...), " ")
	set := profgen.Set{}
	calls := 0
	for n, c := range seen {
		set.Add(n, "trace: "+what)
		calls += c
	}
	for n, why := range trace.Unobservable {
		set.Add(n, why)
	}
	for _, a := range static.Always {
		set.Add(a.Name, a.Why)
	}
	stderr := cmd.ErrOrStderr()
	for _, u := range rec.Unknown() {
		fmt.Fprintf(stderr, "tirith: note: syscall number %s was made, which has no x86_64 name; the profile refuses it\n", u)
	}
	fmt.Fprintf(stderr, "tirith: trace of %s: %d syscalls seen (%d calls)\n", what, len(seen), calls)
	comment := fmt.Sprintf("generated by tirith seccomp generate --trace %s: %d syscalls seen", what, len(seen))
	if base != nil {
		set.Merge(base)
		comment = fmt.Sprintf("generated by tirith seccomp generate --trace, merged: %d syscalls in all, the last run (%s) saw %d", len(set), what, len(seen))
	}
	if exit != nil {
		fmt.Fprintf(stderr, "tirith: warning: the workload exited %d; the profile holds what it did until then\n", exit.Code)
	}
	if err := writeProfile(cmd.OutOrStdout(), stderr, o.out, &profgen.Profile{Comment: comment, Allow: set, BeyondDefault: o.beyond}); err != nil {
		return err
	}
	return runErr
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
