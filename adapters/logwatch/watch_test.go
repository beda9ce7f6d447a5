package logwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// sib formats a SIB record the way WebSphere writes it (reference §2.4).
func sib(engine, id, text string) string {
	return fmt.Sprintf("[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    %c   [Bus1:%s] %s: %s\n", id[len(id)-1], engine, id, text)
}

func flushDone(engine string) string {
	return sib(engine, "CWSIP0783I", "Messaging engine: "+engine+" started, flush of all delivery streams completed.")
}

// appendTo writes s to path in one write, as WebSphere's appender does.
func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func arm(t testing.TB, w *Watcher, spec runbook.WatchSpec, from []runbook.LogPosition) *Watch {
	t.Helper()
	if spec.Timeout == 0 {
		spec.Timeout = 10 * time.Second
	}
	wt, err := w.arm(spec, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wt.Close() })
	return wt
}

// collect waits and returns the outcome and every line passed to lines.
func collect(t testing.TB, wt *Watch) (runbook.WatchOutcome, []runbook.LogLine) {
	t.Helper()
	var got []runbook.LogLine
	out, err := wt.Wait(context.Background(), func(l runbook.LogLine) { got = append(got, l) })
	if err != nil {
		t.Fatal(err)
	}
	return out, got
}

func TestWatchIgnoresStaleLineAndOtherEngine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	// The line from an earlier FLUSH start is already in the file.
	appendTo(t, log, flushDone("ME1"))
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Engine: "ME1", Timeout: 300 * time.Millisecond}, nil)
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchNone || out.Line != nil || len(lines) != 0 {
		t.Fatalf("stale line matched: %+v, lines %v", out, lines)
	}

	wt = arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Engine: "ME1"}, nil)
	// Another engine recovering at the same time finishes first.
	appendTo(t, log, flushDone("ME10"))
	appendTo(t, log, flushDone("ME2"))
	appendTo(t, log, flushDone("ME1"))
	out, lines = collect(t, wt)
	if out.Kind != runbook.MatchSuccess || out.Line == nil || !strings.Contains(out.Line.Text, "[Bus1:ME1] CWSIP0783I") {
		t.Fatalf("outcome = %+v", out)
	}
	if len(lines) != 3 || lines[0].Kind != runbook.MatchNone || lines[1].Kind != runbook.MatchNone || lines[2].Kind != runbook.MatchSuccess {
		t.Fatalf("lines = %+v", lines)
	}
	if out.Line.Vars["engine"] != "ME1" || out.Line.Vars["msgid"] != "CWSIP0783I" || out.Line.Pattern != "CWSIP0783" {
		t.Errorf("vars = %v, pattern %q", out.Line.Vars, out.Line.Pattern)
	}
	st, _ := os.Stat(log)
	if p := out.Positions[0]; p.Offset != st.Size() || p.Inode != inodeOf(st) || p.Path != log {
		t.Errorf("end position = %+v, file size %d", p, st.Size())
	}
}

func TestWatchFailureAndWarning(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783E"}, Failure: []string{"CWSIP0782"}, Warn: []string{"CWSIP0784"}}, nil)
	appendTo(t, log, sib("ME2", "CWSIP0784W", "A remote message request (with id 7) on a destination (with id X) from messaging engine ME1 to X is no longer valid. Cleanup may be required."))
	appendTo(t, log, sib("ME1", "CWSIP0782E", "Messaging engine: ME1 started, flush of stream: S1 and destination: Q1 failed with the exception: java.io.IOException.")+
		"java.io.IOException: disk full\n\tat com.ibm.ws.sib.Foo(Foo.java:1)\n")
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchFailure || !strings.Contains(out.Line.Text, "CWSIP0782E") {
		t.Fatalf("outcome = %+v", out)
	}
	if len(lines) != 2 || lines[0].Kind != runbook.MatchWarn || lines[0].Pattern != "CWSIP0784" {
		t.Fatalf("lines = %+v", lines)
	}
	// The record keeps its stack trace when it was written in one piece.
	if !strings.HasSuffix(out.Line.Text, "\njava.io.IOException: disk full\n\tat com.ibm.ws.sib.Foo(Foo.java:1)") {
		t.Errorf("failure record = %q", out.Line.Text)
	}
}

func TestWatchRegexpCaptures(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{`CWSID0016I: Messaging engine (?P<me>\S+) is in state (?P<state>Started)`}}, nil)
	appendTo(t, log, sib("wasNode01.server1-Bus1", "CWSID0016I", "Messaging engine wasNode01.server1-Bus1 is in state Starting."))
	appendTo(t, log, sib("wasNode01.server1-Bus1", "CWSID0016I", "Messaging engine wasNode01.server1-Bus1 is in state Started."))
	out, _ := collect(t, wt)
	if out.Kind != runbook.MatchSuccess || out.Line.Vars["me"] != "wasNode01.server1-Bus1" || out.Line.Vars["state"] != "Started" || out.Line.Vars["bus"] != "Bus1" {
		t.Fatalf("outcome = %+v", out.Line)
	}
}

// A line written the moment Arm returns is seen: 200 times in a row.
func TestWatchLineWrittenRightAfterArm(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, flushDone("ME1"))
	w := New()
	for i := range 200 {
		wt := arm(t, w, runbook.WatchSpec{Files: []string{log}, Success: []string{fmt.Sprintf("round %d$", i)}}, nil)
		appendTo(t, log, sib("ME1", "CWSIP0781I", fmt.Sprintf("round %d", i)))
		out, _ := collect(t, wt)
		if out.Kind != runbook.MatchSuccess {
			t.Fatalf("round %d: line written right after Arm was missed", i)
		}
		wt.Close()
	}
}

func TestWatchFileCreatedAfterArmAndRecreated(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	wt := arm(t, New(WithPollInterval(20*time.Millisecond)), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}}, nil)
	if p := wt.Positions()[0]; p.Inode != 0 || p.Offset != 0 {
		t.Fatalf("start position of a missing file = %+v", p)
	}
	// The file is deleted and re-created only once the watch has read the
	// first file's line: a line in a file deleted unread is lost to any
	// watcher, and is not what this test is about.
	first := sib("ME1", "CWSIP0780I", "Messaging engine: ME1 started, flush of all delivery streams requested.")
	read := make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		if err := os.WriteFile(log, []byte(first), 0o644); err != nil {
			writer <- err
			return
		}
		select {
		case <-read:
		case <-time.After(10 * time.Second):
			writer <- errors.New("the watch never read the line of the first file")
			return
		}
		if err := os.Remove(log); err != nil {
			writer <- err
			return
		}
		writer <- os.WriteFile(log, []byte(flushDone("ME1")), 0o644)
	}()
	var lines []runbook.LogLine
	notes := 0
	out, err := wt.Wait(context.Background(), func(l runbook.LogLine) {
		if l.Kind == runbook.MatchNote {
			notes++ // the file does not exist yet when the watch is armed
			return
		}
		lines = append(lines, l)
		if len(lines) == 1 {
			close(read)
		}
	})
	if werr := <-writer; werr != nil {
		t.Fatal(werr)
	}
	if err != nil || out.Kind != runbook.MatchSuccess || len(lines) != 2 || !strings.Contains(lines[0].Text, "CWSIP0780I") || notes != 1 {
		t.Fatalf("outcome %+v, %v, %d notes, lines %+v", out, err, notes, lines)
	}
}

func TestWatchSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	s1 := filepath.Join(dir, "server1", "SystemOut.log")
	s2 := filepath.Join(dir, "server2", "SystemOut.log")
	os.MkdirAll(filepath.Dir(s1), 0o755)
	os.MkdirAll(filepath.Dir(s2), 0o755)
	appendTo(t, s1, flushDone("ME2"))
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{s1, s2}, Success: []string{"CWSIP0783"}, Engine: "ME2"}, nil)
	appendTo(t, s2, flushDone("ME2"))
	out, _ := collect(t, wt)
	if out.Kind != runbook.MatchSuccess || out.Line.File != s2 || len(out.Positions) != 2 {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestWatchTimeoutAndCancel(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "x\n")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Timeout: 100 * time.Millisecond}, nil)
	start := time.Now()
	out, err := wt.Wait(context.Background(), nil)
	if err != nil || out.Kind != runbook.MatchNone || out.Line != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("timeout: %+v, %v after %s", out, err, time.Since(start))
	}
	wt2 := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	if _, err := wt2.Wait(ctx, nil); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancel: err = %v", err)
	}
	wt2.Close()
	if err := wt2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := wt2.Wait(context.Background(), nil); err != ErrClosed {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestWatchCloseWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}}, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	waiting := make(chan struct{})
	var once sync.Once
	go func() {
		defer wg.Done()
		_, err = wt.Wait(context.Background(), func(runbook.LogLine) { once.Do(func() { close(waiting) }) })
	}()
	// A context line reaches the callback only from inside Wait: once it
	// has, Close lands on a Wait in progress.
	appendTo(t, log, "server starting\n")
	<-waiting
	wt.Close()
	wg.Wait()
	if err != ErrClosed {
		t.Fatalf("Wait = %v, want ErrClosed", err)
	}
}

// TestWatchCloseAsWaitEnds closes a watch while Wait returns its match:
// the outcome's positions are read under the same lock Close takes (the
// race detector fails this test otherwise).
func TestWatchCloseAsWaitEnds(t *testing.T) {
	for i := 0; i < 20; i++ {
		log := filepath.Join(t.TempDir(), "SystemOut.log")
		appendTo(t, log, "start\n")
		wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}}, nil)
		appendTo(t, log, flushDone("ME1"))
		closed := make(chan struct{})
		go func() { defer close(closed); wt.Close() }()
		out, err := wt.Wait(context.Background(), nil)
		<-closed
		if err == nil && out.Kind != runbook.MatchSuccess || err != nil && err != ErrClosed {
			t.Fatalf("Wait = %+v, %v; want the match or ErrClosed", out, err)
		}
	}
}

func TestArmBadInput(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "x\n")
	bin := filepath.Join(dir, "store.bin")
	os.WriteFile(bin, []byte("SIBSTORE\x00\x01\x02\x00binary"), 0o644)
	cases := []struct {
		spec runbook.WatchSpec
		want string
	}{
		{runbook.WatchSpec{Files: []string{filepath.Join(dir, "nope", "SystemOut.log")}, Success: []string{"X"}, Timeout: time.Second}, "log directory " + filepath.Join(dir, "nope") + " does not exist"},
		{runbook.WatchSpec{Files: []string{dir}, Success: []string{"X"}, Timeout: time.Second}, "is a directory"},
		{runbook.WatchSpec{Files: []string{bin}, Success: []string{"X"}, Timeout: time.Second}, "looks like a binary file"},
		{runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP(0783"}, Timeout: time.Second}, `success pattern "CWSIP(0783" does not compile`},
		{runbook.WatchSpec{Files: []string{log}, Success: []string{"X"}}, "no timeout"},
		{runbook.WatchSpec{Files: []string{log}, Warn: []string{"X"}, Timeout: time.Second}, "no success or failure pattern"},
		{runbook.WatchSpec{Success: []string{"X"}, Timeout: time.Second}, "no files"},
		{runbook.WatchSpec{Files: []string{log}, Success: []string{""}, Timeout: time.Second}, "pattern is empty"},
	}
	for _, c := range cases {
		wt, err := New().Arm(c.spec, nil)
		if wt != nil {
			t.Errorf("Arm(%+v) returned a watch with its error", c.spec)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Arm(%+v) = %v, want an error containing %q", c.spec, err, c.want)
		}
	}
	// Unreadable even for root: reading address 0 of a process fails.
	if _, err := New().Arm(runbook.WatchSpec{Files: []string{"/proc/self/mem"}, Success: []string{"X"}, Timeout: time.Second}, nil); err == nil || !strings.Contains(err.Error(), "cannot read /proc/self/mem") {
		t.Errorf("unreadable file: %v", err)
	}
	if os.Geteuid() != 0 {
		noread := filepath.Join(dir, "secret.log")
		os.WriteFile(noread, []byte("x\n"), 0o000)
		_, err := New().Arm(runbook.WatchSpec{Files: []string{noread}, Success: []string{"X"}, Timeout: time.Second}, nil)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable file: %v", err)
		}
	}
}

// A 10 MB line is cut to MaxLineBytes and marked; the watch goes on and
// matches the next record.
func TestWatchHugeLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Warn: []string{"CWSIP0781"}}, nil)
	appendTo(t, log, sib("ME1", "CWSIP0781I", strings.Repeat("y", 10<<20))+flushDone("ME1"))
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchSuccess || len(lines) != 2 {
		t.Fatalf("outcome %+v, %d lines", out, len(lines))
	}
	if l := lines[0]; l.Kind != runbook.MatchWarn || len(l.Text) > MaxLineBytes+100 || !strings.HasSuffix(l.Text, "[truncated by drillbook]") {
		t.Errorf("huge line: kind %s, %d bytes, ends %q", l.Kind, len(l.Text), l.Text[len(l.Text)-30:])
	}
}

// The seed's line has no header: the engine is found in its text.
func TestWatchPlainLineScopedByText(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "")
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "messagingEngine"}, nil)
	appendTo(t, log, "CWSIP0783E: Messaging engine: messagingEngine2 started, flush of all delivery streams completed.\n")
	appendTo(t, log, "CWSIP0783E: Messaging engine: messagingEngine started, flush of all delivery streams completed.\n")
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchSuccess || len(lines) != 2 || lines[0].Kind != runbook.MatchNone || out.Line.Vars["engine"] != "messagingEngine" || out.Line.Vars["msgid"] != "CWSIP0783E" {
		t.Fatalf("outcome %+v, lines %+v", out.Line, lines)
	}
}

// TestWatchSaysAFileDoesNotExist: a watch on a file that does not exist
// says so when it starts and again every interval until its timeout, and a
// watcher told that a missing log is an error refuses to arm.
func TestWatchSaysAFileDoesNotExist(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	spec := runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Timeout: 2 * time.Second}
	wt := arm(t, New(WithMissingEvery(400*time.Millisecond)), spec, nil)
	var notes []string
	out, err := wt.Wait(context.Background(), func(l runbook.LogLine) {
		if l.Kind == runbook.MatchNote {
			notes = append(notes, l.Text)
		}
	})
	if err != nil || out.Kind != runbook.MatchNone {
		t.Fatalf("outcome %+v, %v; want the timeout", out, err)
	}
	if len(notes) < 2 || !strings.Contains(notes[0], log+" does not exist yet: the watch waits for it to appear") {
		t.Fatalf("notes %q: want the missing file said at once and again every 400ms", notes)
	}
	for _, n := range notes[1:] {
		if !strings.Contains(n, log+" still does not exist after ") || !strings.Contains(n, "gives up after 2s") {
			t.Errorf("repeated note %q", n)
		}
	}
	if _, err := New(WithMissingError()).Arm(spec, nil); err == nil || !strings.Contains(err.Error(), "log file "+log+" does not exist: check the log path") {
		t.Errorf("with missing logs an error, Arm gave %v", err)
	}
	appendTo(t, log, "a line\n")
	w2, err := New(WithMissingError()).Arm(spec, nil)
	if err != nil {
		t.Fatalf("the file exists now, and Arm gave %v", err)
	}
	w2.Close()
}
