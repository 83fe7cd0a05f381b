package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/tirith-project/tirith/internal/exitcode"
	"github.com/tirith-project/tirith/internal/runtime"
)

// A detached container (`run -d`) is created, started and waited for by
// its monitor: a re-exec of this binary that outlives `run -d`, reports
// the start (or its failure) on a pipe, and records the exit.

// monitorReport is what the monitor tells `run -d` once the container
// is started (or failed to).
type monitorReport struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// StartDetached starts the monitor of a prepared container: a re-exec of
// this binary (MonitorCommand), in its own session, that outlives us. It
// returns once the container runs, or with the create error and its
// exit code.
func (e *Engine) StartDetached(p *Prepared, self string, globalArgs []string) error {
	id := p.Record.ID
	r, w, err := os.Pipe()
	if err != nil {
		return e.failDetached(id, err)
	}
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return e.failDetached(id, err)
	}
	defer devnull.Close()
	stdout, err := os.OpenFile(e.StdoutLog(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return e.failDetached(id, err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(e.StderrLog(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return e.failDetached(id, err)
	}
	defer stderr.Close()
	args := append(append([]string{}, globalArgs...), MonitorCommand, id)
	cmd := exec.Command(self, args...)
	// The name picks the grammar, and self is the file's own name (the
	// symlink resolved): installed as tirith-runc with tirith a symlink
	// to it, the monitor would be runc's grammar, which has no monitor.
	cmd.Args[0] = "tirith"
	// The monitor's stdio are the container's log files: the container
	// inherits them (and a pty is copied into them with -t).
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, stdout, stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return e.failDetached(id, fmt.Errorf("start monitor: %w", err))
	}
	w.Close()
	_ = cmd.Process.Release()
	var rep monitorReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		// Its stderr is the container's log, removed with the
		// container: say what it wrote.
		msg := "the container monitor died before starting the container"
		if out := tail(e.StderrLog(id), 2048); out != "" {
			msg += ": " + out
		}
		return e.failDetached(id, errors.New(msg))
	}
	if rep.Error != "" {
		return &exitcode.Error{Code: rep.Code, Err: errors.New(rep.Error)}
	}
	return nil
}

func (e *Engine) failDetached(id string, err error) error {
	_, ferr := e.failCreate(id, err)
	return ferr
}

// MonitorCommand is the hidden subcommand that runs Monitor.
const MonitorCommand = "container-monitor"

// Monitor is the body of a detached container's monitor process. report
// is the pipe to `run -d` (closed once the container runs); stdio are
// the log files. It creates and starts the container, waits for it,
// records its exit and OOM kill, and removes it with --rm.
func (e *Engine) Monitor(id string, report *os.File) error {
	rec, err := e.readRecord(id)
	if err == nil {
		// Held as long as we live (run -d holds it until we report):
		// prune leaves the container to us.
		err = e.markBusy(id)
	}
	if err != nil {
		json.NewEncoder(report).Encode(monitorReport{Code: exitcode.Tirith, Error: err.Error()})
		report.Close()
		return err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	o := runtime.CreateOptions{Bundle: e.Dir(id), Stdin: devnull, Stdout: os.Stdout, Stderr: os.Stderr}
	var console *runtime.ConsoleReceiver
	if rec.TTY {
		if console, err = runtime.NewConsoleReceiver(); err != nil {
			return e.monitorFailed(id, report, err)
		}
		defer console.Close()
		o.ConsoleSocket = console.Path
	}
	// The published ports live as long as we do.
	proxy, prec, err := e.publish(id)
	if err != nil {
		return e.monitorFailed(id, report, err)
	}
	pid, restore, err := e.createStart(id, o, console)
	if err != nil {
		closeProxy(proxy)
		return e.monitorFailed(id, report, err)
	}
	if proxy != nil {
		proxy.Serve(prec.IPAddress)
	}
	json.NewEncoder(report).Encode(monitorReport{})
	report.Close()
	code, err := runtime.Wait(pid)
	restore()
	closeProxy(proxy)
	if err != nil {
		return err
	}
	_, err = e.finish(id, code)
	return err
}

func (e *Engine) monitorFailed(id string, report *os.File, err error) error {
	code, ferr := e.failCreate(id, err)
	json.NewEncoder(report).Encode(monitorReport{Code: code, Error: ferr.Error()})
	report.Close()
	return ferr
}

// tail is the last n bytes of the file at p, trimmed ("" if unreadable).
func tail(p string, n int64) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return strings.TrimSpace(string(b))
}
