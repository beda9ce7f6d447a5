package runbook

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const historyRunbook = `schema: drillbook/v1
id: hist
title: History drill
params:
  - {name: size, type: string, default: small}
steps:
  - id: copy
    title: Copy the store
    action: shell.run
    with: {argv: [cp]}
  - id: start
    title: Start the engine
    action: shell.run
    with: {argv: [start]}
    on_failure: {retry: {count: 1, delay: 2s}}
`

// attemptPlan is how long one attempt of a step's call takes, and whether
// it fails.
type attemptPlan struct {
	took time.Duration
	fail bool
}

// recordRun runs the history runbook through the engine on a clock of its
// own, answering each call after the time the plan gives it and firing each
// timer after its delay, and journals it under stateDir as the runner does:
// the run's description, then every input and the events it caused.
func recordRun(t *testing.T, stateDir, runID string, target string, purpose Purpose, start time.Time, params map[string]string, plan map[string][]attemptPlan) {
	t.Helper()
	rb, err := Parse("hist.yaml", []byte(historyRunbook))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ResolveParams(rb, params)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rb, testSpecs(), vals)
	if err != nil {
		t.Fatal(err)
	}
	j, err := CreateJournal(filepath.Join(RunsDir(stateDir), runID), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	meta := RunMeta{RunID: runID, RunbookID: rb.ID, Title: rb.Title, Digest: rb.Digest, Target: target, Simulated: target == TrainingTarget,
		Operator: "lead", Host: "jump1", Build: &BuildInfo{Version: "v1.0.0"}, Purpose: purpose, Params: publicParams(rb, vals), Started: start}
	if _, err := j.Append(Record{Time: start, Meta: &meta}, false); err != nil {
		t.Fatal(err)
	}
	type pending struct {
		at time.Time
		in Input
	}
	queue := []pending{{start, Input{Type: InStart}}}
	attempts := map[string]int{}
	for len(queue) > 0 && !eng.Status().Final() {
		slices.SortStableFunc(queue, func(a, b pending) int { return a.at.Compare(b.at) })
		p := queue[0]
		queue = queue[1:]
		p.in.Time = p.at
		if _, err := j.Append(Record{Time: p.at, In: &p.in}, false); err != nil {
			t.Fatal(err)
		}
		for _, ev := range eng.Handle(p.in) {
			if _, err := j.Append(Record{Time: ev.Time, Ev: &ev}, false); err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case EvCallStart:
				n := attempts[ev.Step]
				attempts[ev.Step]++
				a := plan[ev.Step][n]
				done := Input{Type: InCallDone, ID: ev.ID, Result: &Result{ExitCode: 0, Summary: "ok"}}
				if a.fail {
					done.Error, done.Result.ExitCode = "exited with status 1", 1
				}
				queue = append(queue, pending{p.at.Add(a.took), done})
			case EvTimerSet:
				queue = append(queue, pending{p.at.Add(ev.After), Input{Type: InTimer, ID: ev.ID}})
			case EvOperatorRequest:
				// The operator takes a second to give up.
				queue = append(queue, pending{p.at.Add(time.Second), Input{Type: InDeviate, Deviation: DevAbort, Reason: "the engine will not start"}})
			}
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryAndCompare journals a history of drills with known step
// times and checks the trend, the sparkline and the comparison a drill lead
// reads.
func TestHistoryAndCompare(t *testing.T) {
	state := t.TempDir()
	day := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	ok := func(d time.Duration) []attemptPlan { return []attemptPlan{{took: d}} }
	// Five drills on the training target, a week apart: the copy gets
	// faster (15, 12, 9, 6, 3 s); the start takes 5 s, but in the fifth
	// drill its first attempt fails after 3 s and the second takes 4 s
	// after the 2 s retry delay (9 s of work). Times to recover: 20, 17,
	// 14, 11, 12 s.
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("2026100%d-090000-hist-00000%d", i+1, i)
		ids = append(ids, id)
		startPlan := ok(5 * time.Second)
		params := map[string]string{}
		if i == 4 {
			startPlan = []attemptPlan{{took: 3 * time.Second, fail: true}, {took: 4 * time.Second}}
			params["size"] = "large"
		}
		recordRun(t, state, id, TrainingTarget, PurposeDrill, day.AddDate(0, 0, 7*i), params,
			map[string][]attemptPlan{"copy": ok(time.Duration(15-3*i) * time.Second), "start": startPlan})
	}
	// A sixth drill fails: both attempts of its start fail and the
	// operator aborts it a second later.
	recordRun(t, state, "20261106-090000-hist-000005", TrainingTarget, PurposeDrill, day.AddDate(0, 0, 35), nil,
		map[string][]attemptPlan{"copy": ok(time.Second), "start": {{took: time.Second, fail: true}, {took: time.Second, fail: true}}})
	// Runs elsewhere and for another purpose, which filters leave out.
	recordRun(t, state, "20261002-090000-hist-0000aa", "prod", PurposeIncident, day.AddDate(0, 0, 1), nil,
		map[string][]attemptPlan{"copy": ok(time.Minute), "start": ok(time.Minute)})

	reps, problems, err := ReadReports(state)
	if err != nil || len(problems) > 0 {
		t.Fatalf("read reports: %v %v", err, problems)
	}
	hs := BuildHistory(reps, "hist", TrainingTarget, "")
	if len(hs) != 1 {
		t.Fatalf("%d histories, want the one of hist on training", len(hs))
	}
	h := hs[0]
	var ttr []string
	for _, r := range h.Runs {
		ttr = append(ttr, fmtDur(r.TimeToRecover)+" "+string(r.Status))
	}
	want := []string{"20s succeeded", "17s succeeded", "14s succeeded", "11s succeeded", "12s succeeded", "6s aborted"}
	if !slices.Equal(ttr, want) {
		t.Errorf("times to recover, oldest first: %v, want %v", ttr, want)
	}
	tr := h.Trend
	// Least squares over 20, 17, 14, 11, 12: -2.2 s a run.
	if tr.Direction != "faster" || tr.PerRun != -2200*time.Millisecond || tr.Succeeded != 5 || tr.Best != 11*time.Second || tr.Median != 14*time.Second {
		t.Errorf("trend %+v, want faster by 2.2s a run over 5 succeeded runs, best 11s, median 14s", tr)
	}
	if tr.Sparkline != "█▆▃▁▂✗" {
		t.Errorf("sparkline %q, want █▆▃▁▂✗", tr.Sparkline)
	}
	if d := tr.Describe(); !strings.HasPrefix(d, "faster: about 2.2s less per run over 5 succeeded runs") {
		t.Errorf("trend says %q", d)
	}
	if all := BuildHistory(reps, "", "", ""); len(all) != 2 || all[0].Target != "prod" || len(all[1].Runs) != 6 {
		t.Errorf("without filters: %d histories, want prod's and training's", len(all))
	}
	if inc := BuildHistory(reps, "hist", "", PurposeIncident); len(inc) != 1 || len(inc[0].Runs) != 1 || inc[0].Runs[0].Operator != "lead" {
		t.Errorf("incidents only: %+v", inc)
	}

	byID := map[string]*Report{}
	for _, r := range reps {
		byID[r.RunID] = r
	}
	c := Compare(byID[ids[3]], byID[ids[4]])
	if c.Slower == nil || c.Slower.Key != "start" || c.Slower.WorkA != 5*time.Second || c.Slower.WorkB != 9*time.Second || c.Slower.Change != 4*time.Second {
		t.Errorf("slower most: %+v, want start, 5s -> 9s (+4s)", c.Slower)
	}
	if c.Faster == nil || c.Faster.Key != "copy" || c.Faster.Change != -3*time.Second {
		t.Errorf("faster most: %+v, want copy -3s", c.Faster)
	}
	changes := strings.Join(c.Changes, "\n")
	for _, w := range []string{"parameter size: small → large", "start: 1 → 2 attempts", "start: deviations none → failed and retried (on_failure): exited with status 1 (retry 1 of 1, the last)"} {
		if !strings.Contains(changes, w) {
			t.Errorf("what changed lacks %q:\n%s", w, changes)
		}
	}
	if b, err := json.Marshal(c); err != nil || !strings.Contains(string(b), `"slower":{"key":"start"`) {
		t.Errorf("the comparison as JSON: %v %s", err, b)
	}
}

// TestTrendSteadyAndTooFew checks the trend's other answers.
func TestTrendSteadyAndTooFew(t *testing.T) {
	run := func(s int) HistoryEntry {
		return HistoryEntry{Status: RunSucceeded, TimeToRecover: time.Duration(s) * time.Second}
	}
	if tr := trendOf([]HistoryEntry{run(10), run(11), run(10), run(10)}); tr.Direction != "steady" {
		t.Errorf("10, 11, 10, 10 s: %s, want steady", tr.Direction)
	}
	if tr := trendOf([]HistoryEntry{run(10), run(20), run(30)}); tr.Direction != "slower" || tr.PerRun != 10*time.Second || tr.Sparkline != "▁▅█" {
		t.Errorf("10, 20, 30 s: %+v, want slower by 10s a run, ▁▅█", tr)
	}
	if tr := trendOf([]HistoryEntry{run(10), run(5)}); tr.Direction != "too few runs" || !strings.Contains(tr.Describe(), "it takes 3") {
		t.Errorf("two runs: %+v", tr)
	}
	if tr := trendOf([]HistoryEntry{run(7), run(7), run(7)}); tr.Direction != "steady" || tr.Sparkline != "███" {
		t.Errorf("equal runs: %+v", tr)
	}
}
