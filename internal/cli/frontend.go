package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/exitcode"
)

// The front end's run, ps, exec and kill share their names with runc's
// verbs. The OCI verbs stay exactly as runc has them (containerd, podman
// and every OCI test call them); Main picks the front-end verb instead,
// only when invoked as "tirith", by the arguments' shape (routeFrontEnd):
//
//   - run: OCI when given any runc-only flag (--bundle/-b, --pid-file,
//     --console-socket, --no-pivot, --no-new-keyring, --preserve-fds,
//     --keep), or a single argument while ./config.json exists (runc run
//     ID from the bundle dir). Otherwise (an IMAGE, Docker flags such as
//     --rm or -e, a command after the image) the front end.
//   - ps: OCI when given a container id (runc ps ID); the front end
//     without one (tirith ps [-a]).
//   - exec, kill: the front end when the first argument names a front-end
//     container (by name, id or, if no OCI container has that id, id
//     prefix) or a Docker-only flag is used (exec -i/-w, kill -s);
//     otherwise OCI. (rm is the front end's only: runc has no rm.)
//
// Under any other name (tirith-runc, runc) only the OCI verbs are used.
var frontEndVerbs = map[string]string{
	"run": "frontend-run", "ps": "frontend-ps", "exec": "frontend-exec", "kill": "frontend-kill",
}

// newFrontEndCmds are the front end's container verbs. The four whose
// names collide with OCI verbs are registered hidden under a prefixed
// name and renamed by routeFrontEnd when chosen.
func newFrontEndCmds(g *Globals) []*cobra.Command {
	return []*cobra.Command{
		newFrontRunCmd(g), newFrontPsCmd(g), newFrontExecCmd(g), newFrontKillCmd(g),
		newLogsCmd(g), newStopCmd(g), newRmCmd(g), newWaitCmd(g), newDiffCmd(g), newMonitorCmd(g),
	}
}

// routeFrontEnd swaps an OCI verb for its front-end namesake in root when
// args call for it (see frontEndVerbs).
func routeFrontEnd(root *cobra.Command, args []string) {
	probe := NewRootCmd("tirith")
	cmd, rest, err := probe.Find(args)
	if err != nil || cmd == probe {
		return
	}
	feName, ok := frontEndVerbs[cmd.Name()]
	if !ok || !wantsFrontEnd(probe, cmd, rest) {
		return
	}
	var oci, fe *cobra.Command
	for _, c := range root.Commands() {
		switch c.Name() {
		case cmd.Name():
			oci = c
		case feName:
			fe = c
		}
	}
	if oci == nil || fe == nil {
		return
	}
	root.RemoveCommand(oci)
	root.RemoveCommand(fe)
	fe.Use = cmd.Name() + fe.Use[len(feName):]
	fe.Hidden = false
	root.AddCommand(fe)
}

func wantsFrontEnd(probe, cmd *cobra.Command, rest []string) bool {
	if err := cmd.ParseFlags(rest); err != nil {
		// A flag runc's verb does not have: a Docker flag.
		return true
	}
	pos := cmd.Flags().Args()
	changed := func(names ...string) bool {
		for _, n := range names {
			if cmd.Flags().Changed(n) {
				return true
			}
		}
		return false
	}
	switch cmd.Name() {
	case "run":
		if changed("bundle", "pid-file", "console-socket", "no-pivot", "no-new-keyring", "preserve-fds", "keep") {
			return false
		}
		if len(pos) == 1 {
			if _, err := os.Stat("config.json"); err == nil {
				return false
			}
		}
		return true
	case "ps":
		return len(pos) == 0
	case "exec", "kill", "delete":
		if len(pos) == 0 {
			return false
		}
		root, _ := probe.PersistentFlags().GetString("root")
		storage, _ := probe.PersistentFlags().GetString("storage")
		return namesFrontEndContainer(&engine.Engine{Storage: storage, Root: root}, pos[0])
	}
	return false
}

func namesFrontEndContainer(e *engine.Engine, q string) bool {
	rec, err := e.Lookup(q)
	if err != nil {
		return false
	}
	if rec.Name == q || rec.ID == q {
		return true
	}
	// An id prefix: an OCI container of exactly that id wins.
	_, err = os.Stat(filepath.Join(e.Root, q))
	return err != nil
}

// frontEndAnnotation marks the front end's commands (images, containers,
// system prune) apart from the OCI verbs.
const frontEndAnnotation = "tirith.frontend"

func markFrontEnd(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[frontEndAnnotation] = "true"
	for _, c := range cmd.Commands() {
		markFrontEnd(c)
	}
}

// frontEndNeedsRoot refuses a front-end command run by a non-root user,
// up front: until rootless mode exists the store, the overlay mounts and
// the containers all need root, and without this the user would meet a
// lock or mkdir "permission denied" half-way (or a store made where one
// could be made, and then a chown failing while unpacking). Exit 125, as
// for Tirith's other own errors.
func frontEndNeedsRoot(cmd *cobra.Command) error {
	if cmd.Annotations[frontEndAnnotation] == "" || os.Geteuid() == 0 {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: the front end needs root for now (rootless mode is not implemented): run it as root, e.g. with sudo\n", cmd.CommandPath())
	return &ExitError{Code: exitcode.Tirith}
}

func newEngine(g *Globals) *engine.Engine {
	return &engine.Engine{Storage: g.Storage, Root: g.Root}
}

// frontEndError prints err as Tirith's own failure and returns the exit
// code to use: the error's own (126/127 from run) or 125, Docker's
// "the tool failed" code, so that scripts can tell it from the
// container's.
func frontEndError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	code := exitcode.Of(err)
	fmt.Fprintf(cmd.ErrOrStderr(), "tirith: %v\n", err)
	return &ExitError{Code: code}
}

// dockerFlagErrors makes a bad flag exit 125, as Docker does.
func dockerFlagErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return frontEndError(c, fmt.Errorf("%w\nSee 'tirith %s --help'.", err, c.Name()))
	})
}
