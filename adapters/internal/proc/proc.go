// Package proc runs the external commands of drillbook's adapters: each in
// its own process group, with stdin closed unless the step is interactive,
// its output streamed line by line to a runbook.Output, its command line
// logged before it starts (secrets masked) and its outcome after, and a
// cancellation that interrupts the whole group and then kills it.
//
// The shell adapter uses it for shell.run; the WebSphere and RabbitMQ
// adapters use it for wsadmin, backupConfig, rabbitmqctl and the like.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// DefaultWaitDelay is how long a cancelled process group has to exit after
// SIGINT before it is killed, when Spec.WaitDelay is zero.
const DefaultWaitDelay = 5 * time.Second

// DefaultTailLines is how many of the last stderr lines an ExitError quotes
// when Spec.TailLines is zero.
const DefaultTailLines = 5

// Spec is one command to run.
type Spec struct {
	// Argv is the program and its arguments, passed to the program as they
	// are: no shell ever sees them. Argv[0] is looked up in PATH when it has
	// no slash.
	Argv []string
	// Env are "KEY=value" entries added to drillbook's own environment; a
	// later entry wins over an earlier one and over the inherited value.
	Env []string
	// OnlyEnv gives the process Env alone: nothing of drillbook's own
	// environment is inherited, so a secret drillbook was handed in a
	// variable (a password named in targets.yaml) never reaches a child
	// that does not need it. The zero value inherits.
	OnlyEnv bool
	// Dir is the working directory; empty means drillbook's own.
	Dir string
	// Stdin, when not nil, is copied to the process's standard input and then
	// closed (a script for wsadmin). Nil means stdin is /dev/null, so a
	// program that prompts for a password reads end of file at once instead
	// of waiting. Ignored when Interactive is set.
	Stdin io.Reader
	// Interactive gives the process drillbook's own terminal (stdin, stdout
	// and stderr); its output is not captured. The process then stays in
	// drillbook's process group, so that it is in the terminal's foreground
	// group and may read from it; the caller must have released the
	// terminal first.
	Interactive bool
	// Secrets are strings (passwords, tokens) masked as "***" in every line
	// this package writes to Out, in the captured output and in errors.
	Secrets []string
	// WaitDelay is how long the group has to exit after SIGINT, and how long
	// output is still read after the process exited when a background child
	// holds it open; zero means DefaultWaitDelay.
	WaitDelay time.Duration
	// Out receives the command line, every output line and the outcome; nil
	// discards them.
	Out runbook.Output
	// TailLines is how many of the last stdout and stderr lines are kept for
	// the Outcome and for an ExitError; zero means DefaultTailLines.
	TailLines int
	// Prompts, for Start, matches an unfinished line at the end of what the
	// process wrote so far that is a prompt waiting for input ("Password:
	// "): it is passed to Out at once instead of waiting for a newline that
	// never comes. Nil waits for the newline.
	Prompts *regexp.Regexp
	// Capture is how many bytes of standard output to keep in
	// Outcome.Stdout (for adapters that parse it); zero keeps none.
	Capture int
}

// Outcome is what happened to a command that was started.
type Outcome struct {
	// ExitCode is the exit status, or -1 when the process was ended by a
	// signal (or never started).
	ExitCode int
	// Signal names the signal that ended the process ("killed",
	// "interrupt"), "" when it exited by itself.
	Signal string
	// Duration is the wall time from start to exit.
	Duration time.Duration
	// Lines counts the output lines seen on stdout and stderr together.
	Lines int64
	// StdoutTail and StderrTail are the last lines of each stream, secrets
	// masked.
	StdoutTail, StderrTail []string
	// Stdout is the first Spec.Capture bytes of standard output, secrets
	// masked; Truncated says whether more was written.
	Stdout    string
	Truncated bool
	// Interactive says the process had the terminal and its output was not
	// captured.
	Interactive bool
	// Cancelled says the context ended before the process did, so it was
	// interrupted (and killed if it did not stop in time).
	Cancelled bool
}

// ExitError reports a process that exited with a non-zero status or was
// ended by a signal.
type ExitError struct {
	// Program is argv[0].
	Program string
	// Code is the exit status, -1 when a signal ended the process.
	Code int
	// Signal names the signal, "" when the process exited by itself.
	Signal string
	// Stderr holds the last lines of standard error, secrets masked.
	Stderr []string
}

// Error says how the process ended and quotes the end of its stderr.
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString(e.Program)
	if e.Signal != "" {
		b.WriteString(" was ended by signal ")
		b.WriteString(e.Signal)
	} else {
		fmt.Fprintf(&b, " exited with status %d", e.Code)
	}
	if len(e.Stderr) > 0 {
		b.WriteString(" (stderr: ")
		b.WriteString(strings.Join(e.Stderr, " | "))
		b.WriteString(")")
	}
	return b.String()
}

// Redact returns s with every non-empty secret replaced by "***".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// CommandLine renders argv for display, quoted as a POSIX shell would need
// it, with secrets masked.
func CommandLine(argv []string, secrets []string) string {
	return Redact(runbook.QuoteArgv(argv), secrets)
}

type discard struct{}

func (discard) Line(runbook.Stream, string) {}

// Run starts the command, streams its output and waits for it to end.
//
// When ctx ends first the process group gets SIGINT, then, if any of it is
// still running after the wait delay, SIGKILL; the error then wraps
// ctx.Err() (context.DeadlineExceeded for a timeout). A non-zero exit
// status is an *ExitError. The Outcome is filled in whenever the process
// was started, error or not.
func Run(ctx context.Context, spec Spec) (Outcome, error) {
	out := spec.Out
	if out == nil {
		out = discard{}
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return Outcome{ExitCode: -1}, errors.New("no command to run: argv is empty")
	}
	if spec.WaitDelay <= 0 {
		spec.WaitDelay = DefaultWaitDelay
	}
	if spec.TailLines <= 0 {
		spec.TailLines = DefaultTailLines
	}
	prog := spec.Argv[0]
	if err := ctx.Err(); err != nil {
		return Outcome{ExitCode: -1}, fmt.Errorf("%s not started: %w", prog, err)
	}

	cmd := exec.Command(prog, spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	switch {
	case spec.OnlyEnv:
		cmd.Env = append([]string{}, spec.Env...)
	case len(spec.Env) > 0:
		cmd.Env = append(os.Environ(), spec.Env...)
	}
	line := "$ " + CommandLine(spec.Argv, spec.Secrets)
	if spec.Dir != "" {
		line += "   (in " + Redact(spec.Dir, spec.Secrets) + ")"
	}
	out.Line(runbook.Info, line)

	if spec.Interactive {
		return runInteractive(ctx, cmd, spec, out)
	}
	return runCaptured(ctx, cmd, spec, out)
}

func startError(prog string, err error) error {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s not found: install it or give its full path as argv[0]: %w", prog, err)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s cannot be run: make it executable (chmod +x): %w", prog, err)
	}
	return fmt.Errorf("start %s: %w", prog, err)
}

func runCaptured(ctx context.Context, cmd *exec.Cmd, spec Spec, out runbook.Output) (Outcome, error) {
	prog := spec.Argv[0]
	oc := Outcome{ExitCode: -1}

	outR, outW, err := os.Pipe()
	if err != nil {
		return oc, fmt.Errorf("start %s: %w", prog, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return oc, fmt.Errorf("start %s: %w", prog, err)
	}
	growPipe(outR)
	growPipe(errR)
	cmd.Stdout, cmd.Stderr = outW, errW
	if spec.Stdin != nil {
		cmd.Stdin = spec.Stdin
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	start := time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		out.Line(runbook.Info, "could not start "+prog)
		return oc, startError(prog, err)
	}
	pgid := cmd.Process.Pid

	so := newPump(runbook.Stdout, out, spec.Secrets, spec.TailLines, spec.Capture)
	se := newPump(runbook.Stderr, out, spec.Secrets, spec.TailLines, 0)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); so.run(outR) }()
	go func() { defer wg.Done(); se.run(errR) }()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		oc.Cancelled = true
		out.Line(runbook.Info, fmt.Sprintf("stopping %s: interrupting its process group (killed if still running after %s)", prog, spec.WaitDelay))
		waitErr = stopGroup(pgid, spec.WaitDelay, waited)
	}

	// Output may still be open in a background child after the process
	// itself exited; read it for a while, then stop reading.
	done := ctx.Done()
	if oc.Cancelled {
		done = nil
	}
	timer := time.NewTimer(spec.WaitDelay)
drain:
	for {
		select {
		case <-drained:
			break drain
		case <-timer.C:
			out.Line(runbook.Info, fmt.Sprintf("a background process of %s still holds its output open: stopped reading after %s", prog, spec.WaitDelay))
			break drain
		case <-done:
			done = nil
			oc.Cancelled = true
			_ = stopGroup(pgid, spec.WaitDelay, nil)
		}
	}
	timer.Stop()
	now := time.Now()
	outR.SetReadDeadline(now)
	errR.SetReadDeadline(now)
	<-drained
	outR.Close()
	errR.Close()
	oc.Duration = time.Since(start)

	oc.Lines = so.lines + se.lines
	oc.StdoutTail, oc.StderrTail = so.tail.slice(), se.tail.slice()
	oc.Stdout, oc.Truncated = so.captured.String(), so.truncated
	return finish(ctx, prog, cmd, oc, waitErr, out)
}

// finish fills in how the process ended, reports it on out and turns it
// into the error Run returns.
func finish(ctx context.Context, prog string, cmd *exec.Cmd, oc Outcome, waitErr error, out runbook.Output) (Outcome, error) {
	fillStatus(&oc, cmd.ProcessState)
	out.Line(runbook.Info, describe(prog, oc))
	if oc.Cancelled {
		return oc, fmt.Errorf("%s stopped: %w", prog, ctx.Err())
	}
	if waitErr != nil && cmd.ProcessState == nil {
		return oc, fmt.Errorf("wait for %s: %w", prog, waitErr)
	}
	if oc.ExitCode != 0 {
		return oc, &ExitError{Program: prog, Code: oc.ExitCode, Signal: oc.Signal, Stderr: oc.StderrTail}
	}
	return oc, nil
}

// stopGroup interrupts the process group, waits for the leader (when waited
// is not nil) and the rest of the group for up to delay, then kills whatever
// is left. It returns the leader's wait error.
func stopGroup(pgid int, delay time.Duration, waited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	deadline := time.NewTimer(delay)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
	leaderDone := waited == nil
	for {
		select {
		case waitErr = <-waited:
			leaderDone = true
			waited = nil
			continue
		case <-tick.C:
			if leaderDone && !groupAlive(pgid) {
				return waitErr
			}
			continue
		case <-deadline.C:
		}
		break
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !leaderDone {
		waitErr = <-waited
	}
	// SIGKILL is delivered asynchronously: make sure the group is gone
	// before saying the step is over (bounded, a process stuck in the
	// kernel cannot hold the run).
	for i := 0; i < 100 && groupAlive(pgid); i++ {
		<-tick.C
	}
	return waitErr
}

// groupAlive reports whether any process of the group is still running.
// Zombies do not count: they are dead, and when drillbook runs under an init
// that does not reap orphans they stay in the table for good.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	alive, ok := procGroupAlive(pgid)
	if !ok {
		return true // no /proc: assume the worst, the group gets SIGKILL
	}
	return alive
}

func fillStatus(oc *Outcome, ps *os.ProcessState) {
	if ps == nil {
		return
	}
	oc.ExitCode = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		oc.Signal = ws.Signal().String()
		oc.ExitCode = -1
	}
}

func describe(prog string, oc Outcome) string {
	d := oc.Duration.Round(time.Millisecond)
	switch {
	case oc.Signal != "":
		return fmt.Sprintf("%s ended by signal %s after %s", prog, oc.Signal, d)
	case oc.Interactive:
		return fmt.Sprintf("%s exited with status %d after %s (interactive: output not captured)", prog, oc.ExitCode, d)
	default:
		return fmt.Sprintf("%s exited with status %d after %s (%d output lines)", prog, oc.ExitCode, d, oc.Lines)
	}
}

func runInteractive(ctx context.Context, cmd *exec.Cmd, spec Spec, out runbook.Output) (Outcome, error) {
	prog := spec.Argv[0]
	oc := Outcome{ExitCode: -1, Interactive: true}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return oc, startError(prog, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		oc.Cancelled = true
		_ = cmd.Process.Signal(os.Interrupt)
		t := time.NewTimer(spec.WaitDelay)
		select {
		case waitErr = <-waited:
		case <-t.C:
			_ = cmd.Process.Kill()
			waitErr = <-waited
		}
		t.Stop()
	}
	oc.Duration = time.Since(start)
	return finish(ctx, prog, cmd, oc, waitErr, out)
}
