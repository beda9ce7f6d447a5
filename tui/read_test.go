package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

// consequences is the MessageSight restore's manual step, as long as the
// shipped one (runbooks/messagesight-restore.yaml), with a template filled
// from a parameter and notes.
const consequences = `schema: drillbook/v1
id: read-test
title: A long manual step and a long destructive command
params:
  - {name: server, default: ms1}
steps:
  - id: consequences
    title: Accept what restoring a store backup means
    source: {doc: 001_5997eca29ae96eef.txt, section: "In both types of restore operation ... consider that"}
    notes: The store of {{ .server }} is replaced; the configuration is kept.
    manual: |
      You are restoring a backed-up store of {{ .server }}. Tell the message owners that:
      1. all messages that were buffered in the store after the store was backed up are lost;
      2. retained messages that were sent after the store was backed up are lost;
      3. messages that were in store buffers when the store was backed up, and which were sent later and discarded from the store, are restored and resent when subscribers reconnect; they are not marked as duplicate messages for JMS and MQTT;
      4. retained messages that were replaced after the store was backed up are restored; the messages that replaced them are lost.
      Go on only if that is acceptable.
  - id: wipe
    title: Replace the store
    notes: Type the server name to confirm. The configuration is kept; only the store directory of {{ .server }} is replaced by the backup's.
    destructive: true
    confirm: "{{ .server }}"
    action: shell.run
    with:
      argv: [sh, -c, 'rm -rf -- "$1"/store && cp -a -- "$2" "$1"/store && echo "replaced the store of $3 with the backup taken before the incident, keeping every file mode and owner"', sh, /var/messagesight/data/ms1, /backups/messagesight/ms1/imaBackup.20261123-0815.store, "{{ .server }}"]
`

// newReadSim is a sim on the read-test runbook.
func newReadSim(t *testing.T, w, h int) *sim {
	t.Helper()
	rb, err := runbook.Parse("read-test.yaml", []byte(consequences))
	if err != nil {
		t.Fatal(err)
	}
	if probs := runbook.Validate(rb, testSpecs()); probs != nil {
		t.Fatal(probs)
	}
	vals, err := runbook.ResolveParams(rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := runbook.NewEngine(rb, testSpecs(), vals)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, eng: eng, now: t0}
	s.v = newRunView(testCommon(w, h, &s.now), RunSpec{RunID: "20261123-080000-read-test-abc123", Title: rb.Title,
		Target: "training", Simulated: true, Steps: eng.Steps(), Started: t0})
	s.v.answer = func(in runbook.Input) { s.sent = append(s.sent, in) }
	s.v.stop = func(string) {}
	return s
}

// words returns the words of a text, for checking that all of it was on
// screen whatever the wrapping.
func words(s string) []string { return strings.Fields(s) }

// seenAll reports which words of want never appeared, in order, across the
// screens; each screen's rows are joined so wrapping does not matter.
func unseen(want string, screens []string) []string {
	var all strings.Builder
	for _, sc := range screens {
		for _, l := range strings.Split(sc, "\n") {
			// the column rule and the dialog's border are not text; the
			// step list's words next to them do no harm
			all.WriteString(strings.ReplaceAll(l, "│", " ") + " ")
		}
	}
	seen := " " + strings.Join(strings.Fields(all.String()), " ") + " "
	var missing []string
	for _, w := range words(want) {
		if !strings.Contains(seen, " "+w+" ") && !strings.Contains(seen, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// TestTUIManualStepMustBeReadToItsEnd: at 80x24 and 60x20 the long manual
// step does not fit; d is refused, saying how much is unread, until the
// operator has scrolled to its end; every word of it was on screen by then.
func TestTUIManualStepMustBeReadToItsEnd(t *testing.T) {
	text := `You are restoring a backed-up store of ms1. Tell the message owners that: 1. all messages that were buffered in the store after the store was backed up are lost; 2. retained messages that were sent after the store was backed up are lost; 3. messages that were in store buffers when the store was backed up, and which were sent later and discarded from the store, are restored and resent when subscribers reconnect; they are not marked as duplicate messages for JMS and MQTT; 4. retained messages that were replaced after the store was backed up are restored; the messages that replaced them are lost. Go on only if that is acceptable. note: The store of ms1 is replaced; the configuration is kept.`
	for _, sz := range []struct{ w, h int }{{80, 24}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			s := newReadSim(t, sz.w, sz.h)
			s.feed(runbook.Input{Type: runbook.InStart})
			first := s.v.view()
			checkSize(t, first, sz.w, sz.h)
			if strings.Contains(first, "{{") {
				t.Errorf("the manual text shows a template:\n%s", first)
			}
			if !strings.Contains(first, "more:") || !strings.Contains(first, "↓/j scrolls") {
				t.Fatalf("the screen does not say part of the text is below:\n%s", first)
			}
			s.key("d")
			if len(s.sent) != 0 {
				t.Fatalf("d ticked off a step whose text was not all on screen: %+v", s.sent)
			}
			if v := s.v.view(); len(unseen("d not now: lines of it not yet on screen", []string{v})) > 0 {
				t.Errorf("refusing d does not say why:\n%s", v)
			}
			screens := []string{first}
			for i := 0; i < 40 && !s.v.readAll; i++ {
				s.key("j")
				v := s.v.view()
				checkSize(t, v, sz.w, sz.h)
				screens = append(screens, v)
			}
			if !s.v.readAll {
				t.Fatalf("40 presses of j did not reach the end of the text:\n%s", screens[len(screens)-1])
			}
			if miss := unseen(text, screens); len(miss) > 0 {
				t.Errorf("these words of the step never appeared on screen: %q", miss)
			}
			if v := screens[len(screens)-1]; !strings.Contains(v, "end of the text") || !strings.Contains(v, "Go on only if that is acceptable.") {
				t.Errorf("at the end the screen does not say so:\n%s", v)
			}
			s.key("d")
			if len(s.sent) != 1 || s.sent[0].Type != runbook.InAck || s.sent[0].Step != "consequences" {
				t.Fatalf("d after reading sent %+v, want the acknowledgement", s.sent)
			}
		})
	}
}

// TestTUIFullScreenReading: f reads the step on the whole screen, where
// the text fits at 80x24 in one go; Esc goes back.
func TestTUIFullScreenReading(t *testing.T) {
	s := newReadSim(t, 80, 24)
	s.feed(runbook.Input{Type: runbook.InStart})
	s.key("f")
	v := s.v.view()
	checkSize(t, v, 80, 24)
	if strings.Contains(v, "── output") || !strings.Contains(v, "Go on only if that is acceptable.") || !strings.Contains(v, "You are restoring a backed-up store of ms1.") {
		t.Fatalf("f does not show the whole text on the screen:\n%s", v)
	}
	if !s.v.readAll {
		t.Error("the whole text was on screen, and it does not count as read")
	}
	s.key("esc")
	if v := s.v.view(); !strings.Contains(v, "── output") {
		t.Errorf("esc did not go back from the full view:\n%s", v)
	}
}

// TestTUIConfirmationMustBeReadToItsEnd: at 60x20 the destructive step's
// command and notes do not fit the dialog; the right token is refused
// until they have been on screen, and accepted after.
func TestTUIConfirmationMustBeReadToItsEnd(t *testing.T) {
	s := newReadSim(t, 60, 20)
	s.feed(runbook.Input{Type: runbook.InStart})
	s.v.readAll = true
	s.key("d")
	s.flush()
	if s.v.dlg.kind != dlgConfirm {
		t.Fatalf("no confirmation dialog:\n%s", s.v.view())
	}
	first := s.v.view()
	checkSize(t, first, 60, 20)
	if !strings.Contains(first, "more: ↓ scrolls") {
		t.Fatalf("the dialog does not say part of it is below:\n%s", first)
	}
	s.typeText("ms1")
	s.key("enter")
	if len(s.sent) != 0 || len(unseen("read all of it first", []string{s.v.view()})) > 0 {
		t.Fatalf("the token was accepted before the text was read (sent %+v):\n%s", s.sent, s.v.view())
	}
	screens := []string{first}
	for i := 0; i < 30 && !s.v.dlg.readAll; i++ {
		s.v.update(tea.KeyMsg{Type: tea.KeyDown})
		screens = append(screens, s.v.view())
	}
	if !s.v.dlg.readAll {
		t.Fatalf("down did not reach the end:\n%s", screens[len(screens)-1])
	}
	if miss := unseen("note: Type the server name to confirm. The configuration is kept; only the store directory of ms1 is replaced by the backup's. keeping every file mode and owner", screens); len(miss) > 0 {
		t.Errorf("never on screen: %q", miss)
	}
	if got := s.v.dlg.input.Value(); got != "ms1" {
		t.Errorf("scrolling changed the token typed: %q", got)
	}
	s.key("enter")
	if len(s.sent) != 1 || s.sent[0].Type != runbook.InConfirm || s.sent[0].Token != "ms1" {
		t.Fatalf("after reading, enter sent %+v", s.sent)
	}
}

// TestTUIHelpClosesWithEsc: ? opens the key list, Esc closes it (it used to
// stay, and q then asked to quit the run).
func TestTUIHelpClosesWithEsc(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait()
	s.key("?")
	if v := s.v.view(); !strings.Contains(v, "(not now:") || !strings.Contains(v, "? or esc closes this list") {
		t.Fatalf("? did not open the key list:\n%s", v)
	}
	s.key("esc")
	if v := s.v.view(); strings.Contains(v, "(not now:") {
		t.Fatalf("esc did not close the key list:\n%s", v)
	}
	if s.v.dlg.kind != dlgNone || s.stops != 0 {
		t.Error("esc did more than close the list")
	}
}

// TestTUIWrapShowsLongLinesWhole: an output line wider than the pane is
// cut, the pane's title offers w, and w shows it whole.
func TestTUIWrapShowsLongLinesWhole(t *testing.T) {
	s := newSim(t, 80, 24)
	s.toLogWait()
	long := "ERROR: the data store of ME1 is held by another owner (CWSIS1519E); stop the other messaging engine or remove the lock row, then start again: " + strings.Repeat("detail ", 8) + "THE-END"
	s.v.apply(runbook.Update{Batch: &runbook.Batch{ID: s.lastCall(), Step: "start", Output: []runbook.OutputLine{{Stream: runbook.Stderr, Text: long}}}})
	v := s.v.view()
	if strings.Contains(v, "THE-END") || !strings.Contains(v, "w wraps long lines") {
		t.Fatalf("the long line is not cut, or w is not offered:\n%s", v)
	}
	s.key("w")
	v = s.v.view()
	checkSize(t, v, 80, 24)
	if miss := unseen(long, []string{v}); len(miss) > 0 {
		t.Errorf("with w the line is still not whole: missing %q\n%s", miss, v)
	}
}

// TestTUIResumeShowsHistory: a resumed run's screen starts with what the
// run showed before it stopped, without asking again what the earlier
// drillbook asked (the engine asks what still stands).
func TestTUIResumeShowsHistory(t *testing.T) {
	first := newSim(t, 80, 24)
	first.toConfirm()
	history := append(first.shown, runbook.Update{Event: &runbook.Event{Type: runbook.EvRunInterrupted, Reason: "the operator quit the screen"}})

	s := newSim(t, 120, 60)
	spec := s.v.spec
	spec.History = history
	v := newRunView(s.v.c, spec)
	if v.dlg.kind != dlgNone || v.request != nil || v.callRunning() {
		t.Fatalf("replaying the history opened a question or left a call running: dialog %v, request %+v, calls %v", v.dlg.kind, v.request, v.calls)
	}
	screen := v.view()
	for _, want := range []string{"line 1", "warning: something on stderr", "drillbook stopped here: the operator quit the screen"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the resumed screen lacks %q:\n%s", want, screen)
		}
	}
}

// TestTUIReflowKeepsItemsAndInstructions: lines broken in the middle of a
// sentence by the YAML file are joined; list items and finished sentences
// keep their lines.
func TestTUIReflowKeepsItemsAndInstructions(t *testing.T) {
	got := reflow("Stop or throttle the producers of the bus Bus1 (or choose a quiet\nperiod), so the stores hold no half-written messages.\nThen:\n1. stop server1;\n2. stop server2\n   and its node agent.\n\nGo on.")
	want := []string{
		"Stop or throttle the producers of the bus Bus1 (or choose a quiet period), so the stores hold no half-written messages.",
		"Then:",
		"1. stop server1;",
		"2. stop server2 and its node agent.",
		"Go on.",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reflow gave\n%q\nwant\n%q", got, want)
	}
}
