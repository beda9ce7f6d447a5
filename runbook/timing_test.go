package runbook

import (
	"testing"
	"time"
)

// TestTimeSplit plays a run whose inputs come a second apart and checks
// each step's work, operator and stopped time, as the engine shows them to
// the screen and as the report folds them from the journal's events.
func TestTimeSplit(t *testing.T) {
	yml := []byte(`schema: drillbook/v1
id: split
title: Split
steps:
  - id: wipe
    title: Wipe
    destructive: true
    confirm: x
    action: test.wipe
    with: {target: x}
  - id: tell
    title: Tell
    manual: Tell the team.
  - id: flaky
    title: Flaky
    action: shell.run
    with: {argv: [check]}
    on_failure: {retry: {count: 1, delay: 5s}}
`)
	// timer 99 names no timer: it only lets a second pass.
	p := playScript(t, yml, `
start
timer 99
confirm wipe x
timer 99
done 1
ack tell
done 2 fail exited 1
timer 3
resume
reconcile flaky succeeded
`)
	want := map[string]Split{
		// asked at 1s, confirmed at 3s, the call ended at 5s
		"wipe": {Work: 2 * time.Second, Operator: 2 * time.Second},
		// asked at 5s, ticked off at 6s
		"tell": {Operator: time.Second},
		// ran from 6s, failed at 7s, retried at 8s (the delay is work),
		// drillbook stopped after 8s and resumed at 9s, then the operator
		// said at 10s that it had succeeded
		"flaky": {Work: 2 * time.Second, Stopped: time.Second, Operator: time.Second},
	}
	for _, s := range p.eng.Steps() {
		if got := s.Time; got != want[s.Key] {
			t.Errorf("engine: %s took %+v, want %+v", s.Key, got, want[s.Key])
		}
	}
	// The report reads the same events from the journal.
	jd := &JournalData{Meta: RunMeta{RunID: "r", Started: time.Date(2026, 11, 23, 8, 0, 1, 0, time.UTC)}}
	for i, ev := range eventsOf(t, p) {
		e := ev
		jd.Records = append(jd.Records, Record{Seq: i + 1, Time: e.Time, Ev: &e})
	}
	rep := BuildReport(jd)
	for _, s := range rep.Steps {
		got := Split{Work: s.Work, Operator: s.Operator, Stopped: s.Stopped}
		if got != want[s.Key] {
			t.Errorf("report: %s took %+v, want %+v", s.Key, got, want[s.Key])
		}
	}
	if rep.TimeToRecover != 8*time.Second || rep.StoppedTime != time.Second {
		t.Errorf("time to recover %s, stopped %s; want 8s (9 s from start to end, less 1 s stopped) and 1s", rep.TimeToRecover, rep.StoppedTime)
	}
}

// eventsOf replays a played script's inputs through a fresh engine and
// returns every event, as the journal holds them.
func eventsOf(t *testing.T, p played) []Event {
	t.Helper()
	eng, err := NewEngine(p.rb, testSpecs(), p.vals)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for _, in := range p.inputs {
		evs = append(evs, eng.Handle(in)...)
	}
	return evs
}

// TestSplitAtCountsTheRunningStretch checks the screen's live timer: the
// current step's time runs on after the engine's last input, as operator
// time while it waits for a confirmation.
func TestSplitAtCountsTheRunningStretch(t *testing.T) {
	p := playScript(t, []byte(`schema: drillbook/v1
id: live
title: Live
steps:
  - id: wipe
    title: Wipe
    destructive: true
    confirm: x
    action: test.wipe
    with: {target: x}
`), "start\n")
	v := p.eng.Steps()[0]
	if v.Clock != TimeOperator {
		t.Fatalf("clock %q, want operator while the confirmation is asked", v.Clock)
	}
	if got := v.SplitAt(v.ClockSince.Add(90 * time.Second)); got != (Split{Operator: 90 * time.Second}) {
		t.Errorf("90 s later: %+v, want 90s of operator time", got)
	}
}
