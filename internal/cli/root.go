// Package cli is Tirith's command line: one file per verb, each turning
// flags into an options struct and making one call into internal/runtime
// (or another library package). Exit codes and wording live in errors.go.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/store"
)

// Version is Tirith's version, set at build time with -ldflags -X.
var Version = "0.1.0-dev"

// Globals are runc's global flags.
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

// NewRootCmd builds the command tree. name is how we were invoked
// ("tirith" or "tirith-runc"); the OCI verbs are the same under both.
func NewRootCmd(name string) *cobra.Command {
	g := &Globals{}
	root := &cobra.Command{
		Use:           name,
		Short:         "Tirith: a secure-by-default OCI container runtime",
		Version:       fmt.Sprintf("%s\nspec: %s", Version, specs.Version),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// Before anything (a --log file included) is created.
			if err := frontEndNeedsRoot(cmd); err != nil {
				return err
			}
			return setupLogging(g)
		},
	}
	root.SetVersionTemplate("tirith version {{.Version}}\n")
	f := root.PersistentFlags()
	f.StringVar(&g.Root, "root", "/run/tirith", "root directory for storage of container state")
	f.StringVar(&g.Log, "log", "", "log file (default: stderr)")
	f.StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.Debug, "debug", false, "enable debug logging")
	f.BoolVar(&g.SystemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (not supported yet: an error)")
	f.StringVar(&g.Rootless, "rootless", "auto", "accepted for runc compatibility; Tirith runs as root")
	f.MarkHidden("rootless")
	f.StringVar(&g.Storage, "storage", store.DefaultRoot, "directory of the image store (pull, images, run ...)")
	root.AddCommand(
		newCreateCmd(g), newStartCmd(g), newRunCmd(g), newStateCmd(g), newKillCmd(g),
		newDeleteCmd(g), newListCmd(g), newPsCmd(g), newSpecCmd(), newExecCmd(g),
		newFeaturesCmd(), newDemoCmd(), newProbeCmd(), NewSeccompCmd(),
		newPauseCmd(g), newResumeCmd(g), newUpdateCmd(g), newEventsCmd(g),
	)
	frontEnd := append(newFrontEndCmds(g),
		newPullCmd(g), newLoadCmd(g), newImportCmd(g), newImagesCmd(g), newRmiCmd(g), newInspectCmd(g),
		newSystemCmd(g),
	)
	for _, c := range frontEnd {
		markFrontEnd(c)
	}
	root.AddCommand(frontEnd...)
	return root
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
