package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tirith-project/tirith/internal/audit"
	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/image/sbom"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/image/vuln"
)

// auditOutput is the flags every audit shares: how to print, and when
// to exit 1.
type auditOutput struct {
	format string
	failOn string
}

func (o *auditOutput) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: "+strings.Join(audit.Formats, ", "))
	cmd.Flags().StringVar(&o.failOn, "fail-on", "", "exit 1 when a warn or fail finding is at or above this severity (info, low, medium, high, critical)")
}

// check validates the flags before any work is done.
func (o *auditOutput) check() error {
	switch o.format {
	case "table", "json", "sarif":
	default:
		return fmt.Errorf("--format: unknown format %q (want %s)", o.format, strings.Join(audit.Formats, ", "))
	}
	if o.failOn != "" {
		if _, err := audit.ParseSeverity(o.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	return nil
}

// emit prints r and turns --fail-on into exit code 1.
func (o *auditOutput) emit(cmd *cobra.Command, r *audit.Report) error {
	out := cmd.OutOrStdout()
	colour := false
	if f, ok := out.(*os.File); ok && o.format == "table" {
		colour = term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == ""
	}
	if err := audit.Write(out, r, o.format, colour, Version); err != nil {
		return err
	}
	if o.failOn == "" {
		return nil
	}
	min, _ := audit.ParseSeverity(o.failOn)
	if bad := r.AtOrAbove(min); len(bad) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "tirith audit: %d finding(s) at or above %s\n", len(bad), min)
		return &ExitError{Code: 1}
	}
	return nil
}

func newAuditCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit an image, a container or the host (table, JSON or SARIF)",
		Args:  noUnknownVerb,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditImageCmd(g), newAuditContainerCmd(g), newAuditHostCmd(g))
	return cmd
}

func newAuditImageCmd(g *Globals) *cobra.Command {
	var (
		o      auditOutput
		opts   audit.ImageOptions
		vulnDB string
	)
	cmd := &cobra.Command{
		Use:   "image [--format table|json|sarif] [--fail-on SEVERITY] [--allow-secret NAME|PATH] [--allow-setuid PATH] [--vuln-db DIR] IMAGE",
		Short: "Audit an image in the store without running it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return frontEndError(cmd, err)
			}
			r, err := auditImage(g, args[0], opts)
			if err != nil {
				return frontEndError(cmd, err)
			}
			if vulnDB != "" {
				if err := addVulnFindings(g, args[0], vulnDB, r); err != nil {
					return frontEndError(cmd, err)
				}
			}
			return o.emit(cmd, r)
		},
	}
	o.register(cmd)
	cmd.Flags().StringArrayVar(&opts.AllowSecrets, "allow-secret", nil, "an ENV or label name (NAME, PREFIX*) or a file path not to report as a secret (repeatable)")
	cmd.Flags().StringArrayVar(&opts.AllowSetuid, "allow-setuid", nil, "a path whose setuid/setgid bits are accepted (repeatable)")
	cmd.Flags().StringVar(&vulnDB, "vuln-db", "", "also match the image's packages (those `tirith sbom` lists) against the OSV records in DIR (*.json), offline")
	dockerFlagErrors(cmd)
	return cmd
}

// addVulnFindings matches the image's packages against the OSV records in
// dir and adds a finding per match (and one saying how many records were
// read), so they share the report's formats and --fail-on.
func addVulnFindings(g *Globals, ref, dir string, r *audit.Report) error {
	db, err := vuln.Load(dir)
	if err != nil {
		return fmt.Errorf("--vuln-db: %w", err)
	}
	st, err := store.Open(g.Storage)
	if err != nil {
		return err
	}
	_, cs, err := sbom.ForImage(st, ref)
	if err != nil {
		return err
	}
	r.Findings = append(r.Findings, audit.VulnFindings(db.Count, dir, db.Match(cs))...)
	return nil
}

func auditImage(g *Globals, ref string, opts audit.ImageOptions) (*audit.Report, error) {
	st, err := store.Open(g.Storage)
	if err != nil {
		return nil, err
	}
	img, err := engine.ResolveImage(st, ref)
	if err != nil {
		return nil, err
	}
	in, err := audit.StoreImage(st, img, ref)
	if err != nil {
		return nil, err
	}
	return audit.Image(in, opts)
}

func newAuditContainerCmd(g *Globals) *cobra.Command {
	var o auditOutput
	cmd := &cobra.Command{
		Use:   "container [--format table|json|sarif] [--fail-on SEVERITY] NAME|ID|PID",
		Short: "Audit a running container's walls from the host (Tirith's, or any runtime's by pid)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return frontEndError(cmd, err)
			}
			t, err := newEngine(g).ResolveAudit(args[0])
			if err != nil {
				return frontEndError(cmd, err)
			}
			r, err := audit.Container(containerInput(args[0], t))
			if err != nil {
				return frontEndError(cmd, err)
			}
			return o.emit(cmd, r)
		},
	}
	o.register(cmd)
	dockerFlagErrors(cmd)
	return cmd
}

// containerInput turns what the engine knows of a container into the
// audit's input: Tirith's records ride along as the report's extra data.
func containerInput(name string, t *engine.AuditTarget) audit.ContainerInput {
	in := audit.ContainerInput{Name: name, Pid: t.Pid}
	if t.Record != nil {
		in.Name = t.Record.Name
		for _, r := range t.Record.Relaxations {
			in.Relaxations = append(in.Relaxations, r.String())
		}
	}
	if t.ID == "" {
		return in
	}
	in.Tirith = map[string]any{"id": t.ID}
	if d := t.Drift; d != nil {
		in.Tirith["drift"] = d
		in.Drift = &audit.Drift{Added: d.Added, Changed: d.Changed, Deleted: d.Deleted, Executables: d.Executables}
	}
	if sec := t.Security; sec != nil {
		in.Tirith["security"] = sec
		in.Plan = planSummary(sec)
		switch {
		case !sec.Landlock.Enabled:
			in.Landlock = "not in the plan"
		case sec.Enforced != nil && sec.Enforced.Landlock != nil:
			l := sec.Enforced.Landlock
			in.Landlock = fmt.Sprintf("enforced, ABI %d (filesystem %v, network %v)", l.ABI, l.FS, l.Net)
		case sec.Enforced != nil && sec.Enforced.LandlockUnsupported:
			in.Landlock = "not supported by the kernel"
		}
	}
	return in
}

func newAuditHostCmd(g *Globals) *cobra.Command {
	var o auditOutput
	cmd := &cobra.Command{
		Use:   "host [--format table|json|sarif] [--fail-on SEVERITY]",
		Short: "Audit the host: kernel features and hardening, Tirith's files, /etc/subuid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return frontEndError(cmd, err)
			}
			bin, _ := os.Executable()
			return o.emit(cmd, audit.Host(audit.HostInput{Storage: g.Storage, Root: g.Root, Binary: bin, LandlockABI: -1}))
		},
	}
	o.register(cmd)
	dockerFlagErrors(cmd)
	return cmd
}

// configPath is Tirith's configuration file: $TIRITH_CONFIG, else
// /etc/tirith/config.json.
func configPath() string {
	if p := os.Getenv("TIRITH_CONFIG"); p != "" {
		return p
	}
	return audit.DefaultConfigPath
}

// applyImagePolicy audits the image `run` is about to use, before any
// container exists: warnings on stderr, or an error under refuse.
func applyImagePolicy(cmd *cobra.Command, g *Globals, image, mode string) error {
	p, err := audit.LoadPolicy(configPath(), mode)
	if err != nil || p.Mode == "off" {
		return err
	}
	st, err := store.Open(g.Storage)
	if err != nil {
		return err
	}
	img, err := engine.ResolveImage(st, image)
	if err != nil {
		return err
	}
	in, err := audit.StoreImage(st, img, image)
	if err != nil {
		return err
	}
	bad, err := p.Violations(in, filepath.Join(g.Storage, "audit"))
	if err != nil {
		return fmt.Errorf("image policy: audit %s: %w", image, err)
	}
	if len(bad) == 0 {
		return nil
	}
	var lines []string
	for _, f := range bad {
		lines = append(lines, fmt.Sprintf("%s (%s): %s: %s", f.ID, f.Severity, f.Title, strings.Join(f.Evidence, "; ")))
	}
	if p.Mode == "refuse" {
		return fmt.Errorf("image %s refused by the image policy (refuse, at or above %s):\n  %s\n(see `tirith audit image %s`; allow-lists in %s)",
			image, p.Severity, strings.Join(lines, "\n  "), image, configPath())
	}
	for _, l := range lines {
		fmt.Fprintf(cmd.ErrOrStderr(), "tirith: warning: image policy: %s\n", l)
	}
	return nil
}

// planSummary is the stored plan in a few lines, for the table (JSON
// has it whole in extra.security).
func planSummary(sec *engine.InspectSecurity) []string {
	out := []string{fmt.Sprintf("user namespace: %v, uid %d gid %d inside", sec.UserNamespace.Enabled, sec.User.UID, sec.User.GID)}
	for _, m := range sec.UserNamespace.UIDMappings {
		out = append(out, fmt.Sprintf("uid map: %d -> host %d (+%d)", m.ContainerID, m.HostID, m.Size))
	}
	out = append(out,
		fmt.Sprintf("capabilities (bounding): %d, no_new_privs: %v", len(sec.Capabilities.Bounding), sec.NoNewPrivileges),
		fmt.Sprintf("seccomp: %s, %d rules, %d instructions", sec.Seccomp.Profile, sec.Seccomp.Rules, sec.Seccomp.Instructions),
		fmt.Sprintf("landlock in the plan: %v", sec.Landlock.Enabled),
		fmt.Sprintf("namespaces: %s, network %s", strings.Join(sec.Namespaces, ","), sec.NetworkMode),
		fmt.Sprintf("read-only root: %v, %d masked and %d read-only paths", sec.ReadonlyRootfs, sec.MaskedPaths, sec.ReadonlyPaths))
	if sec.Enforced != nil {
		out = append(out, fmt.Sprintf("apply report: uid %d gid %d, no_new_privs %v, %d seccomp instructions", sec.Enforced.UID, sec.Enforced.GID, sec.Enforced.NoNewPrivileges, sec.Enforced.SeccompInstructions))
	}
	return out
}
