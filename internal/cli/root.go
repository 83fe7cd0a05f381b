// Package cli is Tirith's command line: one file per verb, each turning
// flags into an options struct and making one call into internal/runtime
// (or another library package). Exit codes and wording live in errors.go.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/rootless"
	"github.com/tirith-project/tirith/internal/runtime"
)

// Version is Tirith's version, set at build time with -ldflags -X.
var Version = "0.1.0-dev"

// Globals are the global flags: runc's, and the front end's --storage.
type Globals struct {
	Root          string
	Log           string
	LogFormat     string
	Debug         bool
	SystemdCgroup bool
	Rootless      string
	// Storage is the front end's image and container store
	// (store.DefaultRoot unless --storage says otherwise).
	Storage string
}

// RuncNames are the names under which the binary is runc: exactly runc's
// verbs and global flags, for containerd, podman, ctr and the OCI test
// suites. Under any other name (tirith, or a download renamed by its
// user) it is the front end, with runc's grammar under `tirith runtime`.
// The name alone decides: never the arguments, the working directory or
// the image store.
var RuncNames = []string{"tirith-runc", "runc"}

// NewRootCmd builds the command tree for the name the binary was invoked
// by (argv[0]'s base name).
func NewRootCmd(name string) *cobra.Command {
	g := &Globals{}
	if slices.Contains(RuncNames, name) {
		root := newRuncCmd(name, g)
		root.Short = "Tirith's OCI runtime, with runc's commands and flags"
		setVersion(root)
		// runc has no completion verb.
		root.CompletionOptions.DisableDefaultCmd = true
		return root
	}
	return newFrontEndRoot(name, g)
}

func setVersion(root *cobra.Command) {
	root.Version = fmt.Sprintf("%s\nspec: %s", Version, specs.Version)
	root.SetVersionTemplate("tirith version {{.Version}}\n")
}

// newRuncCmd is runc's grammar: its global flags and its verbs, as the
// root under a runc name and as `tirith runtime` under the front end.
// An unknown verb is an error (exit 3, as runc's), not the help text.
func newRuncCmd(use string, g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:           use,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noUnknownVerb,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// cobra's own default for its unknown-command suggestions.
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return setupLogging(g)
		},
	}
	unknownVerbFlagErrors(cmd)
	f := cmd.PersistentFlags()
	f.StringVar(&g.Root, "root", runtime.DefaultRoot(), "root directory for storage of container state")
	f.StringVar(&g.Log, "log", "", "log file (default: stderr)")
	f.StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.Debug, "debug", false, "enable debug logging")
	f.BoolVar(&g.SystemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (not supported yet: an error)")
	f.StringVar(&g.Rootless, "rootless", "auto", "accepted for runc compatibility; rootless mode follows from the caller's uid")
	f.MarkHidden("rootless")
	cmd.AddCommand(
		newCreateCmd(g), newStartCmd(g), newRunCmd(g), newStateCmd(g), newKillCmd(g),
		newDeleteCmd(g), newListCmd(g), newPsCmd(g), newSpecCmd(), newExecCmd(g),
		newFeaturesCmd(), newPauseCmd(g), newResumeCmd(g), newUpdateCmd(g), newEventsCmd(g),
	)
	return cmd
}

// defaultStorage is the front end's store: /var/lib/tirith for root,
// ~/.local/share/tirith (XDG_DATA_HOME) for anyone else.
func defaultStorage() string {
	if rootless.Active() {
		return rootless.DataDir()
	}
	return store.DefaultRoot
}

// newFrontEndRoot is the front end: Docker-style verbs over the image
// store, Tirith's own tools, and runc's grammar under `runtime`.
func newFrontEndRoot(name string, g *Globals) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         "Tirith: a secure-by-default container runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noUnknownVerb,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// cobra's own default for its unknown-command suggestions.
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// Before anything (a --log file included) is created.
			if err := enterRootless(cmd); err != nil {
				return err
			}
			// The bundles name their rootfs by these paths, and the
			// runtime resolves a bundle's relative paths against
			// the bundle: a relative --storage or --root would be
			// looked up in the wrong place.
			for _, p := range []*string{&g.Storage, &g.Root} {
				abs, err := filepath.Abs(*p)
				if err != nil {
					return err
				}
				*p = abs
			}
			if rootless.Inside() && cmd.Annotations[frontEndAnnotation] != "" {
				// ~/.local/share may not exist yet (XDG: 0700).
				if err := os.MkdirAll(filepath.Dir(g.Storage), 0o700); err != nil {
					return err
				}
			}
			return setupLogging(g)
		},
	}
	setVersion(root)
	unknownVerbFlagErrors(root)
	// The same variables as runtime's runc flags, which shadow these
	// below `runtime`: `tirith --root X runtime list` is runtime's --root.
	f := root.PersistentFlags()
	f.StringVar(&g.Root, "root", runtime.DefaultRoot(), "directory of the containers' runtime state")
	f.StringVar(&g.Storage, "storage", defaultStorage(), "directory of the image and container store")
	f.StringVar(&g.Log, "log", "", "log file (default: stderr)")
	f.StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.Debug, "debug", false, "enable debug logging")
	frontEnd := []*cobra.Command{
		newFrontRunCmd(g), newFrontPsCmd(g), newFrontExecCmd(g), newFrontKillCmd(g),
		newLogsCmd(g), newStopCmd(g), newRmCmd(g), newWaitCmd(g), newDiffCmd(g), newMonitorCmd(g),
		newNetworkCmd(g), newPortCmd(g),
		newPullCmd(g), newLoadCmd(g), newImportCmd(g), newImagesCmd(g), newRmiCmd(g), newInspectCmd(g),
		newSystemCmd(g), newAuditCmd(g), newDefangCmd(g), newSbomCmd(g),
	}
	for _, c := range frontEnd {
		markFrontEnd(c)
	}
	root.AddCommand(frontEnd...)
	rt := newRuncCmd("runtime", g)
	rt.Short = "The OCI runtime: runc's commands and global flags (tirith runtime --help)"
	rt.Long = "The OCI runtime, as under the name tirith-runc: runc's commands and global flags, e.g.\n" +
		"  tirith runtime --root /run/tirith run --bundle DIR ID"
	rt.AddCommand(newRuntimeHelpCmd())
	root.AddCommand(rt, newDemoCmd(), newProbeCmd(), NewSeccompCmd(g))
	return root
}

// newRuntimeHelpCmd is `tirith runtime help [command]`: cobra's own help
// command looks commands up from the root, where runc's verbs are not.
func newRuntimeHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Parent().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return &unknownCommandError{cmd: cmd.Parent(), verb: rest[0]}
			}
			return target.Help()
		},
	}
}

// logWriter is where errors go besides stderr (runc writes them to --log
// so that containerd's shim can read the last one).
var logWriter io.Writer

func setupLogging(g *Globals) error {
	var w io.Writer = os.Stderr
	if g.Log != "" {
		f, err := os.OpenFile(g.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		w = f
		logWriter = f
	}
	level := slog.LevelInfo
	if g.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		// runc (logrus) writes lower-case levels; containerd matches
		// on "error".
		if a.Key == slog.LevelKey {
			return slog.String("level", strings.ToLower(a.Value.String()))
		}
		return a
	}}
	switch g.LogFormat {
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, opts)))
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
	default:
		return fmt.Errorf("--log-format: unknown format %q (want text or json)", g.LogFormat)
	}
	if g.SystemdCgroup {
		return fmt.Errorf("--systemd-cgroup: the systemd cgroup driver is not supported; use the default cgroupfs driver")
	}
	return nil
}
