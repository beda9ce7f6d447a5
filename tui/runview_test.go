package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

func TestTUIRunViewGolden(t *testing.T) {
	for _, sz := range sizes {
		name := fmt.Sprintf("%dx%d", sz.w, sz.h)
		t.Run("log-wait-"+name, func(t *testing.T) {
			s := newSim(t, sz.w, sz.h)
			s.toLogWait()
			v := s.v.view()
			checkSize(t, v, sz.w, sz.h)
			golden(t, "run-log-wait-"+name, v)
			for _, want := range []string{"SIMULATED", "target training", "✓ 8:00:04:200 [Bus1:ME1] CWSIP0783I", "watching " + logPath[:20], "running action: sh -c"} {
				if !strings.Contains(v, want) {
					t.Errorf("the run view lacks %q:\n%s", want, v)
				}
			}
		})
		t.Run("confirm-"+name, func(t *testing.T) {
			s := newSim(t, sz.w, sz.h)
			s.toConfirm()
			v := s.v.view()
			checkSize(t, v, sz.w, sz.h)
			golden(t, "run-confirm-"+name, v)
		})
	}
}

func TestTUIConfirmDialog(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	if s.v.dlg.kind != dlgConfirm {
		t.Fatalf("the confirmation dialog did not open on confirm.request")
	}
	if !strings.Contains(s.v.view(), "rm -f /srv/drill/scratch") {
		t.Errorf("the dialog does not show the resolved command:\n%s", s.v.view())
	}

	// Enter alone confirms nothing.
	s.key("enter")
	if len(s.sent) != 0 || s.v.dlg.kind != dlgConfirm {
		t.Fatalf("Enter alone sent %v or closed the dialog", s.sent)
	}
	if !strings.Contains(s.v.view(), "enter alone confirms nothing") {
		t.Errorf("no hint after Enter alone:\n%s", s.v.view())
	}

	// A wrong token is refused, by the screen and by the engine.
	s.typeText("ME2")
	s.key("enter")
	if len(s.sent) != 1 || s.sent[0].Token != "ME2" {
		t.Fatalf("sent %v, want the wrong token once (so the refusal is journaled)", s.sent)
	}
	s.flush()
	if s.v.dlg.kind != dlgConfirm {
		t.Fatal("a wrong token closed the dialog")
	}
	if st := s.eng.Steps()[2].State; st != runbook.StateNeedsConfirmation {
		t.Fatalf("after a wrong token the step is %s, want needs-confirmation", st)
	}
	if v := s.v.view(); !strings.Contains(v, `"ME2" does not match: nothing was run`) {
		t.Errorf("the refusal is not shown:\n%s", v)
	}

	// Esc cancels; c opens the dialog again.
	s.key("esc")
	if s.v.dlg.kind != dlgNone || len(s.sent) != 0 {
		t.Fatal("Esc did not cancel")
	}
	if !strings.Contains(s.v.view(), `press c and type "ME1"`) {
		t.Errorf("after Esc the step does not say how to confirm:\n%s", s.v.view())
	}
	s.key("c")
	if s.v.dlg.kind != dlgConfirm {
		t.Fatal("c did not reopen the dialog")
	}

	// The right token runs the step.
	s.typeText("ME1")
	s.key("enter")
	s.flush()
	if s.v.dlg.kind != dlgNone {
		t.Error("the dialog stayed open after the right token")
	}
	if st := s.eng.Steps()[2].State; st != runbook.StateRunning {
		t.Fatalf("after the right token the step is %s, want running", st)
	}
	if !strings.Contains(s.v.view(), "running action: rm -f /srv/drill/scratch") {
		t.Errorf("the view does not show the destructive command running:\n%s", s.v.view())
	}
}

func TestTUIManualAndFinish(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	s.typeText("ME1")
	s.key("enter")
	s.flush()
	s.callDone("rm exited with status 0")
	if s.v.request == nil || s.v.request.Ask != runbook.AskManual {
		t.Fatalf("no manual request: %+v", s.v.request)
	}
	// Keys that do not apply say why and send nothing.
	s.key("c")
	if len(s.sent) != 0 || !strings.Contains(s.v.view(), "no destructive step is") {
		t.Errorf("c on a manual step: sent %v; view:\n%s", s.sent, s.v.view())
	}
	s.key("d")
	if len(s.sent) != 1 || s.sent[0].Type != runbook.InAck || s.sent[0].Step != "tell" {
		t.Fatalf("d sent %v, want an ack of tell", s.sent)
	}
	s.now = s.now.Add(2 * time.Second)
	s.flush()
	if s.v.ended == nil || s.v.ended.Status != runbook.RunSucceeded {
		t.Fatalf("the run did not finish: %+v", s.v.ended)
	}
	v := s.v.view()
	if !strings.Contains(v, "Run succeeded in 7s") || !strings.Contains(v, "4/4 steps") {
		t.Errorf("the finished run is not shown:\n%s", v)
	}
	if !strings.Contains(s.v.view(), "q quit") {
		t.Errorf("help does not offer q once the run ended:\n%s", v)
	}
}

func TestTUIDeviationNeedsReason(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	s.key("esc")
	s.key("s")
	if s.v.dlg.kind != dlgDeviate {
		t.Fatal("s did not open the skip dialog")
	}
	s.key("enter")
	if len(s.sent) != 0 || !strings.Contains(s.v.view(), "a reason is needed") {
		t.Fatalf("a skip without a reason was sent: %v", s.sent)
	}
	s.typeText("scratch file already gone")
	s.key("enter")
	if len(s.sent) != 1 || s.sent[0].Deviation != runbook.DevSkip || s.sent[0].Reason != "scratch file already gone" {
		t.Fatalf("sent %+v, want a skip with its reason", s.sent)
	}
	s.flush()
	if st := s.eng.Steps()[2].State; st != runbook.StateSkipped {
		t.Errorf("wipe is %s after the skip", st)
	}

	// A jump names a step that exists.
	s.key("g")
	s.typeText("nowhere")
	s.key("enter")
	s.typeText("testing")
	s.key("enter")
	if len(s.sent) != 0 || !strings.Contains(s.v.view(), `no step "nowhere"`) {
		t.Fatalf("a jump to a missing step was sent: %v\n%s", s.sent, s.v.view())
	}
}

func TestTUIAdhocCommandIsArgv(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	s.key("esc")
	s.key("x")
	s.typeText(`ls -l "/srv/my dir" '$HOME'`)
	s.key("enter")
	s.typeText("look before wiping")
	s.key("enter")
	if len(s.sent) != 1 {
		t.Fatalf("sent %v", s.sent)
	}
	got := s.sent[0].Argv
	want := []string{"ls", "-l", "/srv/my dir", "$HOME"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("argv = %q, want %q", got, want)
	}
}

func TestTUIQuitWhileRunningAsks(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait() // the start action is running
	s.key("q")
	if s.v.dlg.kind != dlgQuit || s.stops != 0 {
		t.Fatalf("q during a call did not ask first (dialog %v, stops %d)", s.v.dlg.kind, s.stops)
	}
	if !strings.Contains(s.v.view(), "drillbook resume 20261123-080000-screen-test-abc123") {
		t.Errorf("the quit question does not say how to resume:\n%s", s.v.view())
	}
	s.key("n")
	if s.v.dlg.kind != dlgNone || s.stops != 0 {
		t.Fatal("n did not keep the run going")
	}
	s.key("q")
	s.key("y")
	if s.stops != 1 {
		t.Fatalf("y did not stop the runner (stops %d)", s.stops)
	}
}

func TestTUIOverrunWarning(t *testing.T) {
	s := newSim(t, 80, 24)
	s.feed(runbook.Input{Type: runbook.InStart})
	s.now = s.now.Add(14 * time.Second) // prepare expects 10s
	v := s.v.view()
	if !strings.Contains(v, "14s!") || !strings.Contains(v, "working past its expected 10s") {
		t.Errorf("no overrun warning:\n%s", v)
	}
	s.now = t0.Add(5 * time.Second)
	if v := s.v.view(); strings.Contains(v, "working past") {
		t.Errorf("overrun warning before the expected time:\n%s", v)
	}
}

func TestTUIReconcileDialog(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait()
	ev := runbook.Event{Type: runbook.EvOperatorRequest, Ask: runbook.AskReconcile, Step: "start",
		Reason: "drillbook stopped while this step's action was running; say whether it succeeded"}
	s.v.apply(runbook.Update{Event: &ev})
	if s.v.dlg.kind != dlgReconcile {
		t.Fatal("a reconcile request did not open its dialog")
	}
	s.key("enter")
	if len(s.sent) != 0 {
		t.Fatal("Enter without a choice sent an answer")
	}
	s.key("3")
	s.key("enter")
	if len(s.sent) != 1 || s.sent[0].Type != runbook.InReconcile || s.sent[0].Reconciled != "rerun" {
		t.Fatalf("sent %+v, want a rerun", s.sent)
	}
}

// TestTUIResizeKeepsLayout draws the run view, with the confirmation
// dialog open, at sizes from wide down to terminals too small for it (a
// split tmux pane can be two rows high): always exactly the terminal's
// size, never a panic.
func TestTUIResizeKeepsLayout(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	for _, sz := range []struct{ w, h int }{{80, 24}, {100, 30}, {200, 60}, {81, 25}, {120, 40}, {1, 1}, {2, 2}, {10, 3}, {20, 4}, {30, 6}} {
		s.v.c.width, s.v.c.height = sz.w, sz.h
		checkSize(t, s.v.view(), sz.w, sz.h)
	}
}

// TestTUIJumpDialogFieldKeys moves between the jump dialog's two fields
// with the form's keys: tab to the reason, shift+tab back to the step.
func TestTUIJumpDialogFieldKeys(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	s.key("esc")
	s.key("g")
	s.typeText("tel")
	s.key("tab")
	s.typeText("the wipe is done by hand")
	s.v.update(tea.KeyMsg{Type: tea.KeyShiftTab})
	s.typeText("l")
	s.key("enter") // back to the reason, which is filled
	s.key("enter")
	if len(s.sent) != 1 || s.sent[0].Deviation != runbook.DevJump || s.sent[0].Target != "tell" || s.sent[0].Reason != "the wipe is done by hand" {
		t.Fatalf("sent %+v, want a jump to tell with its reason", s.sent)
	}
}

// TestTUITimersCountWork checks the step list's timer: a step waiting for
// its confirmation does not count the operator's time as work, and the
// status line says how long the steps have waited for the operator.
func TestTUITimersCountWork(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toConfirm()
	s.v.dlg = dialog{} // the operator reads the step first
	s.now = s.now.Add(90 * time.Second)
	v := s.v.view()
	var wipeRow string
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(l, "? ⚠ Remove the scr") {
			wipeRow, _, _ = strings.Cut(l, "│")
		}
	}
	if !strings.Contains(wipeRow, " 0.0s") {
		t.Errorf("the waiting step's timer counts the wait as work: %q", wipeRow)
	}
	if !strings.Contains(v, "(you 1m31s)") {
		t.Errorf("the status line does not say how long the steps waited for the operator:\n%s", v)
	}
}

// TestTUINotes checks n and N: a note on the current step and one on the
// run reach the engine as note inputs, an empty note is refused in the
// dialog, and the kept note is shown.
func TestTUINotes(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait()
	s.key("n")
	if s.v.dlg.kind != dlgNote || !strings.Contains(s.v.view(), "Note on step start") {
		t.Fatalf("n opened no note dialog for the current step:\n%s", s.v.view())
	}
	s.key("enter")
	if len(s.sent) != 0 || !strings.Contains(s.v.view(), "write the note first") {
		t.Fatalf("an empty note was sent (%v) or not refused", s.sent)
	}
	s.typeText("CWSIP0784W seen on ME2")
	s.key("enter")
	s.key("N")
	s.typeText("paged the DBA")
	s.key("enter")
	note := func(in runbook.Input) string { return string(in.Type) + " " + in.Step + ": " + in.Note }
	if len(s.sent) != 2 || note(s.sent[0]) != "note start: CWSIP0784W seen on ME2" || note(s.sent[1]) != "note : paged the DBA" {
		t.Fatalf("sent %+v, want the step's note then the run's", s.sent)
	}
	s.flush()
	v := s.v.view()
	if !strings.Contains(v, "note on step start: CWSIP0784W seen on ME2") || !strings.Contains(v, "note on the run: paged the DBA") {
		t.Errorf("the notes are not shown:\n%s", v)
	}
}

// TestTUIStatusLineNamesRemoteHost: while a call runs on another host the
// status line at 80x24 says which ("on mq1"); a call on this machine adds
// nothing, and the host goes when the call ends.
func TestTUIStatusLineNamesRemoteHost(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait()
	statusLine := func() string {
		v := s.v.view()
		checkSize(t, v, 80, 24)
		for _, r := range strings.Split(v, "\n") {
			if strings.Contains(r, " steps │ ") {
				return r
			}
		}
		t.Fatalf("no status line:\n%s", v)
		return ""
	}
	if l := statusLine(); strings.Contains(l, " on ") {
		t.Fatalf("a call on this machine names a host: %q", l)
	}
	s.v.apply(runbook.Update{Event: &runbook.Event{Type: runbook.EvCallStart, ID: 99, Step: "start", Phase: runbook.PhaseAction, Op: "shell.run",
		Plan: &runbook.Plan{Host: "mq1", Argv: []string{"rabbitmqctl", "status"}}}})
	if l := statusLine(); !strings.Contains(l, "running on mq1") {
		t.Fatalf("the status line does not name mq1 while its call runs: %q", l)
	}
	s.v.apply(runbook.Update{Event: &runbook.Event{Type: runbook.EvCallFinished, ID: 99, Step: "start", Phase: runbook.PhaseAction, Result: &runbook.Result{Summary: "ok"}}})
	if l := statusLine(); strings.Contains(l, "mq1") {
		t.Fatalf("mq1 still named after its call ended: %q", l)
	}
}
