package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/tui"
)

// screenGlobals are the options of a drillbook whose state lives in a
// temporary directory and whose picker also offers the screen test
// runbook.
func screenGlobals(t *testing.T) *globalOptions {
	t.Helper()
	env := map[string]string{"DRILLBOOK_OPERATOR": "tester", "HOME": t.TempDir()}
	return &globalOptions{
		io: streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard,
			Getenv: func(k string) string { return env[k] }, Terminal: func() bool { return true }},
		stateDir:    t.TempDir(),
		runbookDirs: []string{"../../tui/testdata"},
	}
}

func screenOpts(ctx context.Context) tui.Options {
	// A renderer of its own: no test writes the process-wide one.
	return tui.Options{Renderer: lipgloss.NewRenderer(io.Discard), NoColor: true, Context: ctx}
}

// waitScreen waits until the screen has drawn every one of want.
func waitScreen(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(20*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

func ctrl(tm *teatest.TestModel, t tea.KeyType) { tm.Send(tea.KeyMsg{Type: t}) }

func enter(tm *teatest.TestModel) { ctrl(tm, tea.KeyEnter) }

// pickScreenTest opens the home screen and chooses the screen test runbook.
func pickScreenTest(t *testing.T, g *globalOptions) (*tui.App, *teatest.TestModel) {
	t.Helper()
	h, err := homeScreen(g, nil, homeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app := tui.NewHome(screenOpts(context.Background()), h)
	tm := teatest.NewTestModel(t, app, teatest.WithInitialTermSize(80, 24))
	waitScreen(t, tm, "target training (SIMULATED)")
	tm.Type("/screen-test")
	enter(tm)
	waitScreen(t, tm, "1 runbook") // the filter has been applied
	enter(tm)
	waitScreen(t, tm, "Parameters", "Screen test")
	return app, tm
}

// finishScreenTest confirms the destructive step with the right token,
// ticks off the manual step, and leaves the run, which must have succeeded.
func finishScreenTest(t *testing.T, app *tui.App, tm *teatest.TestModel) {
	t.Helper()
	tm.Type("ME1")
	enter(tm)
	waitScreen(t, tm, "press d to tick it off")
	tm.Type("d")
	waitScreen(t, tm, "Run succeeded")
	leaveScreen(t, app, tm, "q", runbook.RunSucceeded)
}

// leaveScreen presses the key that leaves the screen, waits for the
// program to end, checks how the run ended and releases it.
func leaveScreen(t *testing.T, app *tui.App, tm *teatest.TestModel, key string, want runbook.RunStatus) {
	t.Helper()
	tm.Type(key)
	tm.WaitFinished(t, teatest.WithFinalTimeout(15*time.Second))
	out, ok, err := app.Outcome(10 * time.Second)
	if !ok || err != nil || out.Status != want {
		t.Fatalf("outcome %+v, %v, %v; want %s", out, ok, err, want)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
}

// readJournal returns the events of the only run under state.
func readJournal(t testing.TB, state string) []runbook.Event {
	t.Helper()
	runs, err := runbook.ListRuns(state)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v, %v", runs, err)
	}
	jd, err := runbook.ReadJournal(filepath.Join(runbook.RunsDir(state), runs[0].Meta.RunID, runbook.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	return jd.Events()
}

func countEvents(evs []runbook.Event, typ runbook.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// TestScreenFlow picks a runbook, is refused an invalid parameter, runs,
// waits on a log, is refused a wrong token at the destructive step, runs it
// with the right one, ticks off the manual step and finishes.
func TestScreenFlow(t *testing.T) {
	g := screenGlobals(t)
	app, tm := pickScreenTest(t, g)

	ctrl(tm, tea.KeyTab) // engine
	ctrl(tm, tea.KeyCtrlU)
	tm.Type("me 1")
	waitScreen(t, tm, `"me 1" does not match the pattern`)
	ctrl(tm, tea.KeyCtrlS)
	waitScreen(t, tm, "1 value(s) need fixing")
	ctrl(tm, tea.KeyCtrlU)
	tm.Type("ME1")
	ctrl(tm, tea.KeyCtrlS)

	waitScreen(t, tm, "DESTRUCTIVE STEP: wipe", "rm -f ")
	tm.Type("ME2")
	enter(tm)
	waitScreen(t, tm, `"ME2" does not match: nothing was run`)
	finishScreenTest(t, app, tm)
	evs := readJournal(t, g.stateDir)
	if n := countEvents(evs, runbook.EvConfirmRefused); n != 1 {
		t.Errorf("journal has %d refused confirmations, want 1", n)
	}
	if n := countEvents(evs, runbook.EvConfirmAccepted); n != 1 {
		t.Errorf("journal has %d accepted confirmations, want 1", n)
	}
	var matched string
	for _, ev := range evs {
		if ev.Type == runbook.EvWatchFinished && ev.Line != nil {
			matched = ev.Line.Text
		}
	}
	if !strings.Contains(matched, "[Bus1:ME1] CWSIP0783I") {
		t.Errorf("journaled log match %q, want the CWSIP0783I line of ME1", matched)
	}
}

// TestScreenQuitMidStepAndResume quits while a step runs (asked first),
// then resumes the run in the same view: the operator says the step
// succeeded, the log line the test writes ends the wait, and the run
// finishes.
func TestScreenQuitMidStepAndResume(t *testing.T) {
	g := screenGlobals(t)
	app, tm := pickScreenTest(t, g)
	for range 4 { // workdir, engine, lines, token, pause
		ctrl(tm, tea.KeyTab)
	}
	ctrl(tm, tea.KeyCtrlU)
	tm.Type("60")
	ctrl(tm, tea.KeyCtrlS)
	waitScreen(t, tm, "running action: sh -c", "watching ")
	tm.Type("q")
	waitScreen(t, tm, "A step is running", "drillbook resume ")
	leaveScreen(t, app, tm, "y", runbook.RunInterrupted)
	runID := app.RunID()

	// Resume the run the way `drillbook resume` does on a terminal.
	ctx := context.Background()
	dir, err := runbook.FindRun(g.stateDir, runID)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.ParseFile(filepath.Join(dir, runbook.RunbookCopy))
	if err != nil {
		t.Fatal(err)
	}
	est, err := openEstate(ctx, g, runbook.TrainingTarget, "", rb, false)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	op, host := operator(g.io.Getenv)
	sess, err := runbook.Resume(runbook.ResumeSession{StateDir: g.stateDir, RunID: runID, Specs: est.registry.Specs(),
		Operator: op, Host: host, Now: now(), Secret: func(string) (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	fe := tui.NewFrontend()
	app2 := tui.NewRun(screenOpts(ctx), fe, screenRun(sess, est, fe, nil))
	tm2 := teatest.NewTestModel(t, app2, teatest.WithInitialTermSize(80, 24))
	waitScreen(t, tm2, "What happened to step start?")
	tm2.Type("1")
	enter(tm2)
	// The screen shows what the run printed before it stopped (it used to
	// start empty): the earlier run's end, and further up its output.
	waitScreen(t, tm2, "reconciled as succeeded", "drillbook stopped here: the operator quit the screen")
	ctrl(tm2, tea.KeyHome) // the oldest line kept: the first step's
	waitScreen(t, tm2, "── prepare · Create the log and print some lines ──", "line 1")
	ctrl(tm2, tea.KeyEnd)
	log := filepath.Join(est.params["workdir"], "SystemOut.log")
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitScreen(t, tm2, "DESTRUCTIVE STEP: wipe")
	finishScreenTest(t, app2, tm2)
	evs := readJournal(t, g.stateDir)
	if countEvents(evs, runbook.EvRunInterrupted) != 1 || countEvents(evs, runbook.EvReconciled) != 1 {
		t.Errorf("journal lacks the interruption or the reconciliation")
	}
}

// TestScreenAdhocThenRetry: a step fails and the run waits for the
// operator; an ad-hoc command (here, the one that fixes the cause) runs
// with its reason; retry is still offered after it (it used to be refused
// until quit and resume), and the retry with its reason runs attempt 2,
// which succeeds. The journal holds both deviations with their reasons.
func TestScreenAdhocThenRetry(t *testing.T) {
	g := screenGlobals(t)
	ctx := context.Background()
	rb, err := runbook.ParseFile("testdata/adhoc/adhoc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	est, err := openEstate(ctx, g, runbook.TrainingTarget, "", rb, true)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	work := t.TempDir()
	vals, err := runbook.ResolveParams(rb, map[string]string{"workdir": work})
	if err != nil {
		t.Fatal(err)
	}
	op, host := operator(g.io.Getenv)
	sess, err := runbook.Start(runbook.NewSession{StateDir: g.stateDir, Runbook: rb, Target: est.target, Params: vals,
		Specs: est.registry.Specs(), Operator: op, Host: host, Version: version, Now: now()})
	if err != nil {
		t.Fatal(err)
	}
	fe := tui.NewFrontend()
	app := tui.NewRun(screenOpts(ctx), fe, screenRun(sess, est, fe, nil))
	tm := teatest.NewTestModel(t, app, teatest.WithInitialTermSize(80, 24))
	waitScreen(t, tm, "step start FAILED", "→ failed: r retry")

	tm.Type("x")
	waitScreen(t, tm, "Run an ad-hoc command")
	tm.Type("touch " + work + "/released")
	enter(tm)
	tm.Type("release the lock the engine waits for")
	enter(tm)
	waitScreen(t, tm, "adhoc ok")

	tm.Type("r")
	waitScreen(t, tm, "Retry · step start")
	tm.Type("the lock is released")
	enter(tm)
	waitScreen(t, tm, "Run succeeded")
	leaveScreen(t, app, tm, "q", runbook.RunSucceeded)

	var devs []string
	attempts := 0
	for _, ev := range readJournal(t, g.stateDir) {
		switch {
		case ev.Type == runbook.EvDeviation:
			devs = append(devs, string(ev.Deviation)+": "+ev.Reason)
		case ev.Type == runbook.EvDeviationRefused:
			t.Errorf("a deviation was refused: %s %s", ev.Deviation, ev.Reason)
		case ev.Type == runbook.EvStepStarted && ev.Step == "start":
			attempts = ev.Attempt
		}
	}
	want := "adhoc: release the lock the engine waits for|retry: the lock is released"
	if strings.Join(devs, "|") != want || attempts != 2 {
		t.Errorf("journal: deviations %q, last attempt %d; want %q and attempt 2", devs, attempts, want)
	}
}
