package runbook

import (
	"strings"
	"testing"
	"time"
)

// textEngine starts an engine on yml with the given parameter values.
func textEngine(t *testing.T, yml string, given map[string]string) (*Engine, func(Input) []Event) {
	t.Helper()
	rb, err := Parse("texts.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if probs := Validate(rb, testSpecs()); probs != nil {
		t.Fatal(probs)
	}
	vals, err := ResolveParams(rb, given)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rb, testSpecs(), vals)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return eng, func(in Input) []Event {
		clock = clock.Add(time.Second)
		in.Time = clock
		return eng.Handle(in)
	}
}

func find(evs []Event, typ EventType) *Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

// TestEngineFillsManualTextAndNotes: the text of a manual step and the
// notes are filled in from the parameters (the issue's `{{ .bus }}`), with
// a secret masked, on the events the screen, plain mode and the journal
// get, and in the step views; the description travels on run.started.
func TestEngineFillsManualTextAndNotes(t *testing.T) {
	yml := `schema: drillbook/v1
id: texts
title: Texts
description: |
  Why this runbook differs from the document.
params:
  - {name: bus, default: Bus1}
  - {name: pw, type: secret}
steps:
  - id: quiet
    title: Quiet {{ .bus }}
    notes: Producers of {{ .bus }} must be stopped; the password is {{ .pw }}.
    manual: |
      Stop the producers of the bus {{ .bus }}.
      Log in with {{ .pw }}.
`
	eng, handle := textEngine(t, yml, map[string]string{"pw": "hunter2"})
	if v := eng.Steps()[0]; v.Manual != "Stop the producers of the bus Bus1.\nLog in with ***.\n" || !strings.Contains(v.Notes, "Producers of Bus1") {
		t.Errorf("before the run the step view shows manual %q, notes %q", v.Manual, v.Notes)
	}
	evs := handle(Input{Type: InStart})
	if rs := find(evs, EvRunStarted); rs == nil || rs.Notes != "Why this runbook differs from the document." {
		t.Errorf("run.started carries %+v, want the description", rs)
	}
	ss := find(evs, EvStepStarted)
	if ss == nil || ss.Notes != "Producers of Bus1 must be stopped; the password is ***." {
		t.Errorf("step.started notes: %+v", ss)
	}
	q := find(evs, EvOperatorRequest)
	if q == nil || q.Text != "Stop the producers of the bus Bus1.\nLog in with ***.\n" || !strings.Contains(q.Notes, "Producers of Bus1") {
		t.Fatalf("the manual request says %+v", q)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Text+ev.Notes+ev.Title, "{{") || strings.Contains(ev.Text+ev.Notes, "hunter2") {
			t.Errorf("%s shows a template or the secret: %q %q", ev.Type, ev.Text, ev.Notes)
		}
	}
}

// TestEngineCountsAttemptsOneWay: a step with three retries that ask says
// "retry 1 of 3, 2 more after it" and never "(3 of 3 left)"; after the
// last retry the question says the retries are used up.
func TestEngineCountsAttemptsOneWay(t *testing.T) {
	yml := `schema: drillbook/v1
id: texts
title: Texts
steps:
  - id: flush
    action: shell.run
    with: {argv: [flush]}
    on_failure: {retry: {count: 3, ask: true}}
`
	_, handle := textEngine(t, yml, nil)
	evs := handle(Input{Type: InStart})
	call := find(evs, EvCallStart).ID
	want := []struct{ retrying, ask string }{
		{"retry 1 of 3, 2 more after it", "Attempt 1 failed. Resolve the cause, then allow retry 1 of 3, 2 more after it."},
		{"retry 2 of 3, 1 more after it", "Attempt 2 failed. Resolve the cause, then allow retry 2 of 3, 1 more after it."},
		{"retry 3 of 3, the last", "Attempt 3 failed. Resolve the cause, then allow retry 3 of 3, the last."},
	}
	for i, w := range want {
		evs = handle(Input{Type: InCallDone, ID: call, Error: "CWSIP0782E"})
		r, q := find(evs, EvStepRetrying), find(evs, EvOperatorRequest)
		if r == nil || r.Reason != w.retrying || q == nil || q.Text != w.ask || q.Reason != "CWSIP0782E" {
			t.Fatalf("after attempt %d: retrying %+v, request %+v", i+1, r, q)
		}
		evs = handle(Input{Type: InAck, Step: "flush"})
		if ss := find(evs, EvStepStarted); ss == nil || ss.Attempt != i+2 {
			t.Fatalf("the retry after attempt %d started %+v, want attempt %d", i+1, ss, i+2)
		}
		call = find(evs, EvCallStart).ID
	}
	evs = handle(Input{Type: InCallDone, ID: call, Error: "CWSIP0782E"})
	q := find(evs, EvOperatorRequest)
	if find(evs, EvStepRetrying) != nil || q == nil || q.Ask != AskDecide || !strings.Contains(q.Text, "attempt 4 of 4: its retries are used up") {
		t.Fatalf("after the last retry: %+v", q)
	}
}

// TestEngineResumeAsksAgainWithTheReason: a run that stopped while the
// operator was asked to decide about a failure asks again on resume with
// the failure as the reason (it was blank).
func TestEngineResumeAsksAgainWithTheReason(t *testing.T) {
	yml := `schema: drillbook/v1
id: texts
title: Texts
steps:
  - id: start
    action: shell.run
    with: {argv: [start]}
`
	_, handle := textEngine(t, yml, nil)
	evs := handle(Input{Type: InStart})
	handle(Input{Type: InCallDone, ID: find(evs, EvCallStart).ID, Error: "CWSIS1519E: the data store is locked"})
	q := find(handle(Input{Type: InResume}), EvOperatorRequest)
	if q == nil || q.Ask != AskDecide || q.Reason != "CWSIS1519E: the data store is locked" {
		t.Fatalf("on resume the question is %+v, want the decision with its reason", q)
	}
}
