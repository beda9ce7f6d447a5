package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// sibLine is a SystemOut.log record in WebSphere's basic format.
func sibLine(sec int, id, me, text string) string {
	return fmt.Sprintf("[11/23/26 7:56:%02d:123 UTC] 0000004a SibMessage    I   [Bus1:%s] %s: %s\n", sec%60, me, id, text)
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// rotateByRename does what WebSphere does at 1 MB: SystemOut.log is
// renamed to SystemOut_yy.MM.dd_HH.mm.ss.log and a new one started.
func rotateByRename(t *testing.T, log string, i int) string {
	t.Helper()
	ts := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	name := filepath.Join(filepath.Dir(log), "SystemOut_"+ts.Format("06.01.02_15.04.05")+".log")
	if err := os.Rename(log, name); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, "")
	return name
}

// rotateByCopy does what logrotate's copytruncate does.
func rotateByCopy(t *testing.T, log string, i int) {
	t.Helper()
	src, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(filepath.Dir(log), fmt.Sprintf("SystemOut.log.%d", i)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
}

func flushSpec(log string) runbook.WatchSpec {
	return runbook.WatchSpec{Host: "far", Files: []string{log}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Engine: "ME1", Timeout: 2 * time.Minute}
}

func TestRemoteWatchRenameRotationRightAfterTheLine(t *testing.T) {
	s, _ := remoteSet(t)
	w := Watcher{Hosts: s}
	log := filepath.Join(t.TempDir(), "SystemOut.log")
	appendTo(t, log, sibLine(0, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed.")) // stale
	for i := 1; i <= 5; i++ {
		wt, err := w.Arm(flushSpec(log), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := wt.Positions(); len(p) != 1 || p[0].Inode == 0 || p[0].Offset == 0 {
			t.Fatalf("start position %+v: want the current end of the live file", p)
		}
		appendTo(t, log, sibLine(i, "CWSIP0781I", "ME1", "Messaging engine: ME1 restarting."))
		appendTo(t, log, sibLine(i, "CWSIP0783I", "ME1", fmt.Sprintf("Messaging engine: ME1 started, flush of all delivery streams completed. attempt %d", i)))
		rotated := rotateByRename(t, log, i)
		appendTo(t, log, sibLine(i, "WSVR0001I", "ME1", "after the rotation"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var seen []string
		oc, err := wt.Wait(ctx, func(ll runbook.LogLine) { seen = append(seen, ll.Text) })
		cancel()
		wt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if oc.Kind != runbook.MatchSuccess || oc.Line == nil || !strings.Contains(oc.Line.Text, fmt.Sprintf("attempt %d", i)) {
			t.Fatalf("attempt %d: outcome %+v, lines %q", i, oc, seen)
		}
		if _, err := os.Stat(rotated); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(seen, "\n"), "flush of all delivery streams completed.\n") || len(seen) != 2 {
			t.Fatalf("attempt %d: the watch saw %q: want the restart line and the new success line only", i, seen)
		}
	}
}

func TestRemoteWatchCopyTruncate(t *testing.T) {
	s, _ := remoteSet(t)
	w := Watcher{Hosts: s}
	log := filepath.Join(t.TempDir(), "SystemOut.log")
	appendTo(t, log, strings.Repeat(sibLine(0, "WSVR0001I", "ME1", "filler"), 50))
	wt, err := w.Arm(flushSpec(log), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	appendTo(t, log, sibLine(1, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed."))
	rotateByCopy(t, log, 1)
	appendTo(t, log, sibLine(2, "WSVR0001I", "ME1", "after the truncation"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oc, err := wt.Wait(ctx, nil)
	if err != nil || oc.Kind != runbook.MatchSuccess || !strings.Contains(oc.Line.Text, "CWSIP0783I") {
		t.Fatalf("copy-truncate right after the line: %+v %v", oc, err)
	}
}

func TestRemoteWatchFailsFastAndTimesOut(t *testing.T) {
	s, _ := remoteSet(t)
	w := Watcher{Hosts: s}
	log := filepath.Join(t.TempDir(), "SystemOut.log")
	appendTo(t, log, "")
	wt, err := w.Arm(flushSpec(log), nil)
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, sibLine(1, "CWSIP0782E", "ME1", "Messaging engine ME1 could not flush."))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oc, err := wt.Wait(ctx, nil)
	wt.Close()
	if err != nil || oc.Kind != runbook.MatchFailure || oc.Line.Pattern != "CWSIP0782" {
		t.Fatalf("failure line: %+v %v", oc, err)
	}
	spec := flushSpec(log)
	spec.Timeout = time.Second
	wt, err = w.Arm(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	oc, err = wt.Wait(ctx, nil)
	if err != nil || oc.Kind != runbook.MatchNone || oc.Line != nil {
		t.Fatalf("timeout: %+v %v", oc, err)
	}
	if _, err := w.Arm(runbook.WatchSpec{Host: "far", Files: []string{"/nonexistent/dir/SystemOut.log"}, Success: []string{"X"}, Timeout: time.Second}, nil); err == nil || !strings.Contains(err.Error(), "host far: log directory /nonexistent/dir does not exist") {
		t.Fatalf("arm on a missing directory: %v", err)
	}
}

func TestRemoteWatchResumesAfterTheClientIsKilled(t *testing.T) {
	s, srv := remoteSet(t)
	log := filepath.Join(t.TempDir(), "SystemOut.log")
	appendTo(t, log, sibLine(0, "CWSIP0783I", "ME1", "Messaging engine: ME1 started (stale, before the watch)."))
	wt, err := Watcher{Hosts: s}.Arm(flushSpec(log), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.Get("far")
	r := h.(*Remote)
	r.mu.Lock()
	sess := r.cur.sess
	r.mu.Unlock()

	var mu sync.Mutex
	var last runbook.LogPosition
	var seen []string
	done := make(chan error, 1)
	go func() {
		_, err := wt.Wait(context.Background(), func(ll runbook.LogLine) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ll.Text)
			last = ll.Position // the runner journals this
		})
		done <- err
	}()
	appendTo(t, log, sibLine(1, "CWSIP0781I", "ME1", "Messaging engine: ME1 restarting."))
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restart line did not arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// drillbook dies: its ssh goes with it.
	if err := syscall.Kill(sess.carrier, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "host far:") {
			t.Fatalf("wait after the connection died: %v, want ErrConnectionLost naming the host", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the watch did not notice its connection died")
	}
	// The agent on the far side sees its channel close and exits.
	waitGone(t, "the agent after its channel closed", []int{sess.pid})

	// While drillbook is down the engine comes up and the log rolls over
	// right after the line.
	appendTo(t, log, sibLine(2, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed."))
	rotateByRename(t, log, 2)
	appendTo(t, log, sibLine(3, "WSVR0001I", "ME1", "after the rotation"))

	// drillbook resumes with a new connection and the journaled position.
	s2 := NewSet(&runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"far": srv.Host("far", testAgent(t))}}, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	defer s2.Close()
	mu.Lock()
	from := []runbook.LogPosition{last}
	mu.Unlock()
	wt2, err := Watcher{Hosts: s2}.Arm(flushSpec(log), from)
	if err != nil {
		t.Fatal(err)
	}
	defer wt2.Close()
	var after []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oc, err := wt2.Wait(ctx, func(ll runbook.LogLine) { after = append(after, ll.Text) })
	if err != nil || oc.Kind != runbook.MatchSuccess || !strings.Contains(oc.Line.Text, "flush of all delivery streams completed") {
		t.Fatalf("resumed watch: %+v %v (lines %q)", oc, err, after)
	}
	if len(after) != 1 {
		t.Fatalf("the resumed watch saw %q: want only the line written while drillbook was down", after)
	}
}

// TestRemoteWatchOnAMissingLog: a log that does not exist yet is waited
// for on a remote host as it is locally, and refused when the target says
// missing_logs: error.
func TestRemoteWatchOnAMissingLog(t *testing.T) {
	s, _ := remoteSet(t)
	log := filepath.Join(t.TempDir(), "SystemOut.log")
	wt, err := Watcher{Hosts: s}.Arm(flushSpec(log), nil)
	if err != nil {
		t.Fatalf("arm on a log that does not exist yet: %v", err)
	}
	done := make(chan runbook.WatchOutcome, 1)
	var notes []string
	go func() {
		oc, _ := wt.Wait(context.Background(), func(ll runbook.LogLine) {
			if strings.HasPrefix(ll.Text, "drillbook: ") {
				notes = append(notes, ll.Text)
			}
		})
		done <- oc
	}()
	appendTo(t, log, sibLine(1, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed."))
	select {
	case oc := <-done:
		if oc.Kind != runbook.MatchSuccess || len(notes) == 0 || !strings.Contains(notes[0], "does not exist yet") {
			t.Fatalf("outcome %+v notes %q", oc, notes)
		}
	case <-time.After(time.Minute):
		t.Fatal("the line in the log that appeared was not seen")
	}
	wt.Close()

	s.target.MissingLogError = true
	s2 := NewSet(s.target, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	defer s2.Close()
	_, err = Watcher{Hosts: s2}.Arm(flushSpec(filepath.Join(t.TempDir(), "SystemOut.log")), nil)
	if err == nil || !strings.Contains(err.Error(), "host far: log file") || !strings.Contains(err.Error(), "missing_logs: error") {
		t.Fatalf("arm on a missing log with missing_logs: error: %v", err)
	}
}
