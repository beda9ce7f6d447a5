package proc

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

// A started process answers what it is sent, shows a prompt that has no
// newline at once, exits at end of input with its status, and Stop ends
// one that is still running.
func TestStartTalksAndStops(t *testing.T) {
	t.Parallel()
	l := newLines()
	spec := helperSpec("echo")
	spec.Out = l
	spec.Prompts = regexp.MustCompile(`(?i)password: *$`)
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "got one")
	if _, err := p.Write([]byte("prompt\n")); err != nil {
		t.Fatal(err)
	}
	if got := l.waitFor(t, "Password:"); got != "Password: " {
		t.Errorf("prompt line %q", got)
	}
	p.CloseInput()
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the process did not end at end of input")
	}
	if oc, err := p.Outcome(); err != nil || oc.ExitCode != 0 {
		t.Errorf("outcome %+v, %v", oc, err)
	}

	p2, err := Start(helperSpec("ignore-int"))
	if err != nil {
		t.Fatal(err)
	}
	p2.Stop("test")
	_, err = p2.Outcome()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal == "" {
		t.Errorf("stopped process: %v, want ended by a signal", err)
	}
	if running(p2.Pid()) {
		t.Errorf("process %d still runs after Stop", p2.Pid())
	}
}
