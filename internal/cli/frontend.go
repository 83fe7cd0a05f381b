package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/exitcode"
	"github.com/tirith-project/tirith/internal/rootless"
)

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

// enterRootless puts a front-end command of an unprivileged user into
// the user's rootless namespace (see internal/rootless): the command is
// executed anew in there, as that namespace's root, before anything
// (a --log file included) is created. An error exits 125, as Tirith's
// other own errors.
func enterRootless(cmd *cobra.Command) error {
	if cmd.Annotations[frontEndAnnotation] == "" || os.Geteuid() == 0 {
		return nil
	}
	err := rootless.Enter()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", cmd.CommandPath(), err)
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
