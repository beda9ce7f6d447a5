package logwatch

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// TestHelperWatchProcess is the watching drillbook process of
// TestResumeAfterKill: it arms a watch, prints its start positions as the
// engine would journal them, and waits until it is killed.
func TestHelperWatchProcess(t *testing.T) {
	log := os.Getenv("LOGWATCH_HELPER_FILE")
	if log == "" {
		return // only runs as the child of TestResumeAfterKill
	}
	w := New()
	wt, err := w.Arm(runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "ME1", Timeout: time.Minute}, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	b, _ := json.Marshal(wt.Positions())
	fmt.Println(string(b))
	wt.Wait(context.Background(), nil)
	os.Exit(4)
}

func TestResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, flushDone("ME1")) // from an earlier restart: stale

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWatchProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOGWATCH_HELPER_FILE="+log)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	lineCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		lineCh <- sc.Text()
	}()
	var journaled []runbook.LogPosition
	select {
	case l := <-lineCh:
		if err := json.Unmarshal([]byte(l), &journaled); err != nil {
			t.Fatalf("child said %q: %v", l, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child did not arm its watch within 20s")
	}
	appendTo(t, log, sib("ME1", "CWSIP0780I", "Messaging engine: ME1 started, flush of all delivery streams requested."))

	// drillbook is killed; the engine goes on recovering without it.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	appendTo(t, log, flushDone("ME2"))
	appendTo(t, log, flushDone("ME1"))
	// ...and the log rolls over twice before drillbook is back.
	for i := range 2 {
		if err := os.Rename(log, rotatedName(log, i)); err != nil {
			t.Fatal(err)
		}
		appendTo(t, log, sib("ME1", "CWSID0016I", fmt.Sprintf("Messaging engine ME1 is in state Started. (%d)", i)))
	}

	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "ME1", Timeout: 5 * time.Second}, journaled)
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchSuccess {
		t.Fatalf("resumed watch: %+v", out)
	}
	if out.Line.File != rotatedName(log, 0) || !strings.Contains(out.Line.Text, "[Bus1:ME1] CWSIP0783I") {
		t.Fatalf("matched %s: %q", out.Line.File, out.Line.Text)
	}
	// Exactly the lines written after the child armed, up to the match.
	if len(lines) != 3 || !strings.Contains(lines[0].Text, "CWSIP0780I") || !strings.Contains(lines[1].Text, "ME2") {
		t.Fatalf("lines = %+v", lines)
	}
}

// A resumed watch whose file rotated, and whose rotated copy was deleted
// too, says so instead of staying silent.
func TestResumeFileGone(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "one\n")
	st, _ := os.Stat(log)
	from := []runbook.LogPosition{{Path: log, Inode: inodeOf(st), Offset: st.Size()}}
	// The new file exists before the old one is removed, so it cannot get
	// the old inode number.
	appendTo(t, log+".new", flushDone("ME1"))
	os.Remove(log)
	if err := os.Rename(log+".new", log); err != nil {
		t.Fatal(err)
	}
	wt := arm(t, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Timeout: 5 * time.Second}, from)
	out, lines := collect(t, wt)
	if out.Kind != runbook.MatchSuccess || len(lines) < 2 || !strings.Contains(lines[0].Text, "is gone") {
		t.Fatalf("outcome %+v, lines %+v", out, lines)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func countInotifyWatches(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		n += strings.Count(string(b), "inotify wd:")
	}
	return n
}

func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestNoLeaksAfter1000Cycles(t *testing.T) {
	dir := t.TempDir()
	s1 := filepath.Join(dir, "server1", "SystemOut.log")
	s2 := filepath.Join(dir, "server2", "SystemOut.log")
	os.MkdirAll(filepath.Dir(s1), 0o755)
	os.MkdirAll(filepath.Dir(s2), 0o755)
	appendTo(t, s1, "")
	g0, fd0, in0 := runtime.NumGoroutine(), countFDs(t), countInotifyWatches(t)

	w := New()
	cycle := func(i int) {
		wt, err := w.Arm(runbook.WatchSpec{Files: []string{s1, s2}, Success: []string{"CWSIP0783"}, Timeout: 5 * time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			appendTo(t, s1, flushDone("ME1"))
			if out, err := wt.Wait(context.Background(), nil); err != nil || out.Kind != runbook.MatchSuccess {
				t.Fatalf("cycle %d: %+v, %v", i, out, err)
			}
		}
		wt.Close()
	}
	cycle(0)
	// The Watcher's notifier is the one goroutine a closed watch leaves.
	g1, fd1, in1 := settledGoroutines(g0+1), countFDs(t), countInotifyWatches(t)
	// While a watch is armed its two directories are watched.
	armed, err := w.Arm(runbook.WatchSpec{Files: []string{s1, s2}, Success: []string{"X"}, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := countInotifyWatches(t); n != in0+2 {
		t.Fatalf("an armed watch of two directories holds %d inotify watches, want %d", n, in0+2)
	}
	armed.Close()
	for i := 1; i <= 1000; i++ {
		cycle(i)
	}
	g2, fd2, in2 := settledGoroutines(g1), countFDs(t), countInotifyWatches(t)
	if g2 > g1 || fd2 != fd1 || in2 != in1 {
		t.Fatalf("after 1000 cycles: goroutines %d -> %d, fds %d -> %d, inotify watches %d -> %d", g1, g2, fd1, fd2, in1, in2)
	}
	if in1 != in0 {
		t.Fatalf("a closed watch left %d inotify watches", in1-in0)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g3, fd3 := settledGoroutines(g0), countFDs(t)
	if g3 > g0 || fd3 != fd0 {
		t.Fatalf("after Watcher.Close: goroutines %d (started with %d), fds %d (started with %d)", g3, g0, fd3, fd0)
	}
	t.Logf("goroutines %d, fds %d, inotify watches %d while the Watcher is open", g1, fd1, in1)
}
