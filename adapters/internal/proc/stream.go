package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// Process is a command started by Start: it runs in its own process group
// with its standard input open to the caller, for a program that answers
// requests one after another (a wsadmin session). Its output goes to
// Spec.Out line by line, as with Run, until it exits or is stopped.
type Process struct {
	prog  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pgid  int
	delay time.Duration
	out   runbook.Output
	start time.Time

	done chan struct{} // closed when the process has exited and its output is read
	stop sync.Once

	// Set before done is closed.
	oc      Outcome
	waitErr error
}

// Start starts the command and returns at once. Unlike Run it takes no
// context: the process lives until it exits by itself or Stop is called,
// and each request the caller sends it is bounded by the caller. Stdin,
// Interactive and Capture are ignored; stdin is a pipe written through
// Write. The command line is shown on Out first, secrets masked.
func Start(spec Spec) (*Process, error) {
	out := spec.Out
	if out == nil {
		out = discard{}
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, errors.New("no command to run: argv is empty")
	}
	if spec.WaitDelay <= 0 {
		spec.WaitDelay = DefaultWaitDelay
	}
	if spec.TailLines <= 0 {
		spec.TailLines = DefaultTailLines
	}
	prog := spec.Argv[0]
	cmd := exec.Command(prog, spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	switch {
	case spec.OnlyEnv:
		cmd.Env = append([]string{}, spec.Env...)
	case len(spec.Env) > 0:
		cmd.Env = append(os.Environ(), spec.Env...)
	}
	out.Line(runbook.Info, "$ "+CommandLine(spec.Argv, spec.Secrets))

	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	growPipe(outR)
	growPipe(errR)
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{prog: prog, cmd: cmd, stdin: stdin, delay: spec.WaitDelay, out: out, done: make(chan struct{})}
	p.start = time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		stdin.Close()
		outR.Close()
		errR.Close()
		out.Line(runbook.Info, "could not start "+prog)
		return nil, startError(prog, err)
	}
	p.pgid = cmd.Process.Pid

	so := newPump(runbook.Stdout, out, spec.Secrets, spec.TailLines, 0)
	se := newPump(runbook.Stderr, out, spec.Secrets, spec.TailLines, 0)
	so.prompts, se.prompts = spec.Prompts, spec.Prompts
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); so.run(outR) }()
	go func() { defer wg.Done(); se.run(errR) }()
	go func() {
		waitErr := cmd.Wait()
		// A background child may hold the output open: read it for the
		// wait delay at most, as Run does.
		drained := make(chan struct{})
		go func() { wg.Wait(); close(drained) }()
		t := time.NewTimer(spec.WaitDelay)
		select {
		case <-drained:
		case <-t.C:
			now := time.Now()
			outR.SetReadDeadline(now)
			errR.SetReadDeadline(now)
			<-drained
		}
		t.Stop()
		outR.Close()
		errR.Close()
		oc := Outcome{ExitCode: -1, Duration: time.Since(p.start), Lines: so.lines + se.lines}
		oc.StdoutTail, oc.StderrTail = so.tail.slice(), se.tail.slice()
		fillStatus(&oc, cmd.ProcessState)
		p.oc, p.waitErr = oc, waitErr
		close(p.done)
	}()
	return p, nil
}

// Write sends bytes to the process's standard input. It may block while
// the pipe is full; the caller bounds it (a request is small).
func (p *Process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// CloseInput closes the process's standard input: a request loop reads end
// of file and ends by itself.
func (p *Process) CloseInput() error { return p.stdin.Close() }

// Done is closed once the process has exited and its output was read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pgid }

// Outcome says how the process ended; the error is an *ExitError for a
// non-zero status or a signal. Call it after Done is closed.
func (p *Process) Outcome() (Outcome, error) {
	<-p.done
	oc := p.oc
	if p.waitErr != nil && p.cmd.ProcessState == nil {
		return oc, fmt.Errorf("wait for %s: %w", p.prog, p.waitErr)
	}
	if oc.ExitCode != 0 {
		return oc, &ExitError{Program: p.prog, Code: oc.ExitCode, Signal: oc.Signal, Stderr: oc.StderrTail}
	}
	return oc, nil
}

// Stop ends the process group: its standard input is closed, then SIGINT,
// then SIGKILL for whatever is still running after the wait delay. It
// returns once the process has exited; calling it again does nothing more.
func (p *Process) Stop(reason string) {
	p.stop.Do(func() {
		p.stdin.Close()
		select {
		case <-p.done:
			return
		default:
		}
		p.out.Line(runbook.Info, fmt.Sprintf("stopping %s (%s): interrupting its process group (killed if still running after %s)", p.prog, reason, p.delay))
		_ = stopGroup(p.pgid, p.delay, nil)
		<-p.done
	})
	<-p.done
}
