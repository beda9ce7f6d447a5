package runbook

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// discard is a frontend that shows nothing.
type discard struct{}

func (discard) Update(Update) {}

// TestRunnerSyncsRunningOutput runs a step that prints three lines and then
// runs on: the lines reach the call's output file on disk while it still
// runs, without any input to sync them, so a crash then would keep them.
func TestRunnerSyncsRunningOutput(t *testing.T) {
	state := t.TempDir()
	rb, err := Parse("hold.yaml", []byte("schema: drillbook/v1\nid: hold\ntitle: Hold\nsteps:\n  - id: hold\n    action: test.hold\n"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	reg := NewRegistry(funcOp{spec: OpSpec{Name: "test.hold"}, run: func(ctx context.Context, c Call, out Output) (Result, error) {
		for _, l := range []string{"one", "two", "three"} {
			out.Line(Stdout, l)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Result{ExitCode: 0}, nil
	}})
	sess, err := Start(NewSession{StateDir: state, Runbook: rb, Target: &Target{Name: TrainingTarget}, Params: ParamValues{},
		Specs: reg.Specs(), Operator: "tester", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := NewRunner(RunnerConfig{Engine: sess.Engine, Registry: reg, Journal: sess.Journal, Frontend: discard{}})
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), sess.First...)
		done <- err
	}()
	path := filepath.Join(sess.Dir, OutputPath(1))
	deadline := time.Now().Add(30 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		got, _ = os.ReadFile(path)
		if string(got) == "1 one\n1 two\n1 three\n" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(got) != "1 one\n1 two\n1 three\n" {
		t.Fatalf("while the step ran, its output file on disk held %q", got)
	}
}

// TestRunnerStopsWhenNothingCanHappen gives a runner a run with nothing to
// do (not started, nothing in flight, nothing asked): it stops with a
// StalledError naming where the run stands instead of waiting forever.
func TestRunnerStopsWhenNothingCanHappen(t *testing.T) {
	rb, err := Parse("still.yaml", []byte("schema: drillbook/v1\nid: still\ntitle: Still\nsteps:\n  - id: first\n    manual: Do it.\n"))
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := NewEngine(rb, nil, ParamValues{})
	j, err := CreateJournal(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := NewRunner(RunnerConfig{Engine: eng, Registry: NewRegistry(), Journal: j, Frontend: discard{}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.Run(ctx)
	var se *StalledError
	if !errors.As(err, &se) || out.Status != RunInterrupted || !strings.Contains(err.Error(), "stands still at step first (pending)") {
		t.Fatalf("got %s, %v", out.Status, err)
	}
}

// TestReportMarksOutputCutByACrash reads a journal in which drillbook died
// while a call ran (run.resumed with no run.interrupted before it): the
// call's output is marked cut, with how many lines the journal kept.
func TestReportMarksOutputCutByACrash(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, r := range []Record{
		{Time: at, Meta: &RunMeta{RunID: "r1", RunbookID: "copy", Started: at}},
		{Time: at, In: &Input{Type: InStart}},
		{Time: at, Ev: &Event{Type: EvStepStarted, Step: "copy", Title: "Copy the store"}},
		{Time: at, Ev: &Event{Type: EvCallStart, ID: 1, Step: "copy", Phase: PhaseAction, Op: "file.copy"}},
		{Time: at, Ev: &Event{Type: EvCallOutput, ID: 1, Step: "copy", File: OutputPath(1), Lines: 40}},
		{Time: at.Add(time.Minute), In: &Input{Type: InResume}},
		{Time: at.Add(time.Minute), Ev: &Event{Type: EvRunResumed}},
	} {
		if _, err := j.Append(r, false); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	jd, err := ReadJournal(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := BuildReport(jd).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**output cut**: drillbook stopped without a record (a crash or a kill) while this call ran",
		"; 40 lines were kept in `output/1.log`", "stopped without a record (drillbook was killed", "| Journal | 7 records, checksums verified |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
}

// lostWatcher is a watcher whose host is lost while a watch is armed.
type lostWatcher struct{}

func (lostWatcher) Arm(WatchSpec, []LogPosition) (Watch, error) {
	return nil, fmt.Errorf("host n1: the connection to the host was lost: %w", ErrOutcomeUnknown)
}

// TestRunnerStopsWhenAWatchLosesItsHostWhileArming: the host of a step's
// log is lost while the watch is armed. The step does not fail (its retries
// would all meet the lost host) and its action does not start: the run
// stops resumable, naming the host.
func TestRunnerStopsWhenAWatchLosesItsHostWhileArming(t *testing.T) {
	rb, err := Parse("lost.yaml", []byte(`schema: drillbook/v1
id: lost
title: Lost
steps:
  - id: start-me
    action: test.start
    wait: {log: /logs/SystemOut.log, success: [CWSIP0783], timeout: 5m}
    on_failure: {retry: {count: 3}}
`))
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	reg := NewRegistry(funcOp{spec: OpSpec{Name: "test.start"}, run: func(context.Context, Call, Output) (Result, error) {
		started++
		return Result{}, nil
	}})
	sess, err := Start(NewSession{StateDir: t.TempDir(), Runbook: rb, Target: &Target{Name: TrainingTarget}, Params: ParamValues{},
		Specs: reg.Specs(), Operator: "tester", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := NewRunner(RunnerConfig{Engine: sess.Engine, Registry: reg, Journal: sess.Journal, Frontend: discard{}, Watcher: lostWatcher{}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	oc, err := r.Run(ctx, sess.First...)
	if err != nil {
		t.Fatal(err)
	}
	if oc.Status != RunInterrupted || !strings.Contains(oc.Reason, "step start-me stopped: host n1: the connection to the host was lost") {
		t.Fatalf("outcome %s, reason %q; want interrupted, naming the step and the host", oc.Status, oc.Reason)
	}
	if started != 0 {
		t.Fatalf("the action ran %d times after its watch could not be armed", started)
	}
}
