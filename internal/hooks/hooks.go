// Package hooks runs OCI lifecycle hooks: each hook gets the container
// state as JSON on stdin and is killed when its timeout expires.
package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Run runs hooks in order and stops at the first failure. name is the
// hook kind, for the error ("createRuntime hook[1] /bin/x: ...").
func Run(name string, hs []specs.Hook, state *specs.State) error {
	if len(hs) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hs {
		if err := run(h, data); err != nil {
			return fmt.Errorf("%s hook[%d] %s: %w", name, i, h.Path, err)
		}
	}
	return nil
}

func run(h specs.Hook, state []byte) error {
	cmd := exec.Command(h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A process group of its own, so that a timeout kills whatever the
	// hook started, not only the hook: a child left holding its output
	// pipe would keep Wait, and so create, blocked past the timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A hook may leave a daemon behind that inherited its stdout: once
	// the hook itself exited, stop waiting for the pipe after a while.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var expired <-chan time.Time
	if h.Timeout != nil {
		timer := time.NewTimer(time.Duration(*h.Timeout) * time.Second)
		defer timer.Stop()
		expired = timer.C
	}
	var err error
	select {
	case err = <-done:
		if errors.Is(err, exec.ErrWaitDelay) {
			// It exited 0; only its output pipe outlived it.
			err = nil
		}
	case <-expired:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if out.Len() > 0 {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
		}
		return err
	}
	return nil
}
