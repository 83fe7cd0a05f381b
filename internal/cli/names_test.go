package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// wantRuncVerbs are runc's verbs that Tirith implements (runc's checkpoint
// and restore are not), plus help.
var wantRuncVerbs = []string{"create", "delete", "events", "exec", "features", "help", "kill", "list", "pause", "ps", "resume", "run", "spec", "start", "state", "update"}

// wantRuncGlobals are runc's global flags (--rootless hidden, as Tirith runs
// as root).
var wantRuncGlobals = []string{"debug", "log", "log-format", "root", "rootless", "systemd-cgroup"}

var wantFrontEndVerbs = []string{
	"audit", "completion", "defang", "demo", "diff", "exec", "help", "images", "import", "inspect", "kill", "load", "logs",
	"network", "port", "ps", "pull", "rm", "rmi", "run", "runtime", "sbom", "seccomp", "stop", "system", "wait",
}

// Commands a person never types: the detached container's monitor and
// the in-container probe of the built-in image (run as /bin/tirith).
var wantFrontEndHidden = []string{"container-monitor", "probe"}

// verbs lists c's subcommands as a user gets them (with cobra's help and
// completion, which it adds to the root at Execute), visible and hidden
// apart.
func verbs(c *cobra.Command) (visible, hidden []string) {
	if !c.HasParent() {
		c.InitDefaultHelpCmd()
		c.InitDefaultCompletionCmd()
	}
	for _, s := range c.Commands() {
		if s.Hidden {
			hidden = append(hidden, s.Name())
		} else {
			visible = append(visible, s.Name())
		}
	}
	slices.Sort(visible)
	slices.Sort(hidden)
	return visible, hidden
}

func persistentFlags(c *cobra.Command) []string {
	var names []string
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	slices.Sort(names)
	return names
}

func TestVerbsPerName(t *testing.T) {
	for _, tc := range []struct {
		name            string
		visible, hidden []string
	}{
		{"tirith-runc", wantRuncVerbs, nil},
		{"runc", wantRuncVerbs, nil},
		{"tirith", wantFrontEndVerbs, wantFrontEndHidden},
		// A download renamed by its user is still the front end.
		{"tirith-linux-amd64", wantFrontEndVerbs, wantFrontEndHidden},
		{"my-containers", wantFrontEndVerbs, wantFrontEndHidden},
	} {
		root := NewRootCmd(tc.name)
		visible, hidden := verbs(root)
		if !slices.Equal(visible, tc.visible) || !slices.Equal(hidden, tc.hidden) {
			t.Errorf("verbs under %q:\n got %v (hidden %v)\nwant %v (hidden %v)", tc.name, visible, hidden, tc.visible, tc.hidden)
		}
	}
	for _, name := range []string{"tirith-runc", "runc"} {
		if got := persistentFlags(NewRootCmd(name)); !slices.Equal(got, wantRuncGlobals) {
			t.Errorf("global flags under %q: %v, want runc's %v", name, got, wantRuncGlobals)
		}
	}
}

// `tirith runtime` holds exactly runc's verbs and global flags.
func TestRuntimeSubcommandIsRunc(t *testing.T) {
	rt, _, err := NewRootCmd("tirith").Find([]string{"runtime"})
	if err != nil || rt.Name() != "runtime" {
		t.Fatalf("tirith runtime: found %q, %v", rt.CommandPath(), err)
	}
	visible, hidden := verbs(rt)
	if !slices.Equal(visible, wantRuncVerbs) || len(hidden) != 0 {
		t.Errorf("tirith runtime verbs: %v (hidden %v), want %v", visible, hidden, wantRuncVerbs)
	}
	if got := persistentFlags(rt); !slices.Equal(got, wantRuncGlobals) {
		t.Errorf("tirith runtime flags: %v, want runc's %v", got, wantRuncGlobals)
	}
	// Each verb is the same command as under tirith-runc (same flags).
	runc := NewRootCmd("tirith-runc")
	for _, v := range wantRuncVerbs {
		if v == "help" {
			continue
		}
		a, _, err1 := rt.Find([]string{v})
		b, _, err2 := runc.Find([]string{v})
		if err1 != nil || err2 != nil || a.Use != b.Use || a.LocalFlags().FlagUsages() != b.LocalFlags().FlagUsages() {
			t.Errorf("tirith runtime %s differs from tirith-runc %s", v, v)
		}
	}
}

// The global flags parse before or after `runtime`, and land in the
// runtime's globals.
func TestRuntimeGlobalFlags(t *testing.T) {
	for _, args := range [][]string{
		{"runtime", "--root", "/x", "--log-format", "json", "run", "--bundle", "/b", "ID"},
		{"--root", "/x", "runtime", "--log-format", "json", "run", "--bundle", "/b", "ID"},
		{"runtime", "run", "--root", "/x", "--log-format", "json", "--bundle", "/b", "ID"},
	} {
		root := NewRootCmd("tirith")
		cmd, rest, err := root.Find(args)
		if err != nil || cmd.CommandPath() != "tirith runtime run" {
			t.Fatalf("%v: found %q, %v", args, cmd.CommandPath(), err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		r, _ := cmd.Flags().GetString("root")
		lf, _ := cmd.Flags().GetString("log-format")
		b, _ := cmd.Flags().GetString("bundle")
		if r != "/x" || lf != "json" || b != "/b" || !slices.Equal(cmd.Flags().Args(), []string{"ID"}) {
			t.Errorf("%v: root %q log-format %q bundle %q args %v", args, r, lf, b, cmd.Flags().Args())
		}
	}
}

// The arguments' shape, the working directory and the image store never
// pick the grammar: `run` under tirith is the front end's, even beside a
// config.json, and under tirith-runc runc's, even given an image.
func TestNoRoutingByShape(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		name string
		args []string
		want string // start of the chosen command's Use
	}{
		{"tirith", []string{"run", "busybox"}, "run [OPTIONS] IMAGE"},
		{"tirith", []string{"run", "--bundle", ".", "busybox"}, "run [OPTIONS] IMAGE"},
		{"tirith", []string{"ps"}, "ps [-a]"},
		{"tirith", []string{"ps", "abc"}, "ps [-a]"},
		{"tirith", []string{"exec", "abc", "true"}, "exec [-i]"},
		{"tirith", []string{"kill", "abc"}, "kill [-s SIGNAL]"},
		{"tirith-runc", []string{"run", "busybox"}, "run [flags] CONTAINER_ID"},
		{"tirith-runc", []string{"run", "--rm", "busybox"}, "run [flags] CONTAINER_ID"},
		{"tirith-runc", []string{"ps"}, "ps [--format"},
		{"tirith-runc", []string{"kill", "abc"}, "kill [--all]"},
	} {
		cmd, _, err := NewRootCmd(tc.name).Find(tc.args)
		if err != nil || !strings.HasPrefix(cmd.Use, tc.want) {
			t.Errorf("%s %v: got %q (%v), want %q", tc.name, tc.args, cmd.Use, err, tc.want)
		}
	}
}

// An unknown verb is an error, exit 3 as runc's, never the help text.
func TestUnknownVerb(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		verb string
	}{
		{"tirith-runc", []string{"images"}, "images"},
		{"runc", []string{"pull", "busybox"}, "pull"},
		{"tirith-runc", []string{"runtime", "list"}, "runtime"},
		{"tirith-runc", []string{"--root", "/x", "seccomp", "check", "default"}, "seccomp"},
		{"tirith", []string{"runtime", "images"}, "images"},
		{"tirith", []string{"create", "--bundle", ".", "x"}, "create"},
		{"tirith", []string{"nope"}, "nope"},
	} {
		root := NewRootCmd(tc.name)
		root.SetArgs(tc.args)
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		err := root.Execute()
		var uc *unknownCommandError
		if !errors.As(err, &uc) || !strings.Contains(err.Error(), `unknown command "`+tc.verb+`"`) || out.Len() != 0 {
			t.Errorf("%s %v: error %v, output %q; want an unknown command error naming %q", tc.name, tc.args, err, out.String(), tc.verb)
		}
	}
}
