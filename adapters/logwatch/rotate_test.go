package logwatch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// rotatedName is WebSphere's name for a rolled SystemOut.log:
// SystemOut_yy.MM.dd_HH.mm.ss.log, one second apart per rotation.
func rotatedName(log string, i int) string {
	ts := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return filepath.Join(filepath.Dir(log), "SystemOut_"+ts.Format("06.01.02_15.04.05")+".log")
}

// rotator imitates a log writer that rotates: by rename (WebSphere) or by
// copy and truncate (logrotate copytruncate).
type rotator struct {
	t      testing.TB
	log    string
	f      *os.File
	n      int
	keep   int // rotated files kept; 0 keeps all
	byCopy bool
}

func newRotator(t testing.TB, log string, byCopy bool) *rotator {
	r := &rotator{t: t, log: log, byCopy: byCopy}
	r.open()
	t.Cleanup(func() { r.f.Close() })
	return r
}

func (r *rotator) open() {
	f, err := os.OpenFile(r.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	r.f = f
}

func (r *rotator) write(s string) {
	if _, err := r.f.WriteString(s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rotator) rotate() {
	name := rotatedName(r.log, r.n)
	if r.byCopy {
		src, err := os.Open(r.log)
		if err != nil {
			r.t.Fatal(err)
		}
		dst, err := os.Create(name)
		if err != nil {
			r.t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			r.t.Fatal(err)
		}
		src.Close()
		dst.Close()
		if err := r.f.Truncate(0); err != nil {
			r.t.Fatal(err)
		}
	} else {
		r.f.Close()
		if err := os.Rename(r.log, name); err != nil {
			r.t.Fatal(err)
		}
		r.open()
	}
	if r.keep > 0 && r.n >= r.keep {
		os.Remove(rotatedName(r.log, r.n-r.keep))
	}
	r.n++
}

// One watch follows 1000 rotations; a numbered line is written just before
// and just after each. Every line must arrive exactly once.
func testRotationsContinuous(t *testing.T, byCopy bool) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	r := newRotator(t, log, byCopy)
	r.write(flushDone("ME1")) // stale
	wt := arm(t, New(WithPollInterval(20*time.Millisecond)), runbook.WatchSpec{
		Files:   []string{log},
		Success: []string{"CWSIP0783"},
		Warn:    []string{`seq (?P<n>\d+)$`},
		Timeout: 50 * time.Second,
	}, nil)
	const rotations = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range rotations {
			r.write(sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(2*i)))
			r.rotate()
			r.write(sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(2*i+1)))
		}
		r.write(flushDone("ME1"))
	}()
	counts := make([]int, 2*rotations)
	other := 0
	out, err := wt.Wait(t.Context(), func(l runbook.LogLine) {
		if l.Kind != runbook.MatchWarn {
			other++
			return
		}
		n, _ := strconv.Atoi(l.Vars["n"])
		counts[n]++
	})
	<-done
	if err != nil || out.Kind != runbook.MatchSuccess {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	lost, dup := 0, 0
	for n, c := range counts {
		switch {
		case c == 0:
			lost++
			if lost < 5 {
				t.Logf("lost seq %d", n)
			}
		case c > 1:
			dup += c - 1
			if dup < 5 {
				t.Logf("seq %d seen %d times", n, c)
			}
		}
	}
	if lost != 0 || dup != 0 || other != 1 {
		t.Fatalf("%d rotations: %d lines lost, %d duplicated, %d other records (want 0, 0, 1: the success line)", rotations, lost, dup, other)
	}
}

func TestRenameRotationsContinuous(t *testing.T) { testRotationsContinuous(t, false) }
func TestCopyTruncateContinuous(t *testing.T)    { testRotationsContinuous(t, true) }

// 1000 watches, each armed before the success line is written just before
// (or, in the other run, just after) a rotation: each must match it once.
func testRotationEachWatch(t *testing.T, byCopy, after bool) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	r := newRotator(t, log, byCopy)
	r.keep = 5
	r.write(flushDone("ME1"))
	w := New(WithPollInterval(20 * time.Millisecond))
	for i := range 1000 {
		wt := arm(t, w, runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "ME1", Timeout: 5 * time.Second}, nil)
		line := sib("ME1", "CWSIP0783I", fmt.Sprintf("Messaging engine: ME1 started, flush of all delivery streams completed. (%d)", i))
		if after {
			r.rotate()
			r.write(line)
		} else {
			r.write(line)
			r.rotate()
		}
		matches := 0
		out, err := wt.Wait(t.Context(), func(l runbook.LogLine) {
			if l.Kind == runbook.MatchSuccess {
				matches++
			}
		})
		if err != nil || out.Kind != runbook.MatchSuccess || matches != 1 {
			t.Fatalf("rotation %d: outcome %s, %d matches, %v", i, out.Kind, matches, err)
		}
		if want := fmt.Sprintf("(%d)", i); !strings.HasSuffix(out.Line.Text, want) {
			t.Fatalf("rotation %d matched %q", i, out.Line.Text)
		}
		wt.Close()
	}
}

func TestRenameRotationLineBefore(t *testing.T)       { testRotationEachWatch(t, false, false) }
func TestRenameRotationLineAfter(t *testing.T)        { testRotationEachWatch(t, false, true) }
func TestCopyTruncateRotationLineBefore(t *testing.T) { testRotationEachWatch(t, true, false) }
func TestCopyTruncateRotationLineAfter(t *testing.T)  { testRotationEachWatch(t, true, true) }

// Without inotify (NFS, exhausted watches) the poll interval alone follows
// rotations of both kinds.
func TestRotationsPollOnly(t *testing.T) {
	for _, byCopy := range []bool{false, true} {
		dir := t.TempDir()
		log := filepath.Join(dir, "SystemOut.log")
		r := newRotator(t, log, byCopy)
		wt := arm(t, New(WithoutNotify(), WithPollInterval(2*time.Millisecond)), runbook.WatchSpec{
			Files: []string{log}, Success: []string{"CWSIP0783"}, Warn: []string{`seq (?P<n>\d+)$`}, Timeout: 20 * time.Second,
		}, nil)
		const rotations = 200
		go func() {
			for i := range rotations {
				r.write(sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(2*i)))
				r.rotate()
				r.write(sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(2*i+1)))
				time.Sleep(time.Millisecond)
			}
			r.write(flushDone("ME1"))
		}()
		counts := make([]int, 2*rotations)
		out, err := wt.Wait(t.Context(), func(l runbook.LogLine) {
			if n, err := strconv.Atoi(l.Vars["n"]); err == nil {
				counts[n]++
			}
		})
		if err != nil || out.Kind != runbook.MatchSuccess {
			t.Fatalf("copy=%v: %+v, %v", byCopy, out, err)
		}
		for n, c := range counts {
			if c != 1 {
				t.Fatalf("copy=%v: seq %d seen %d times", byCopy, n, c)
			}
		}
	}
}

// Two watches of the same file in one process both see the line (with
// hpcloud/tail's shared per-path channel one would steal the other's event).
func TestTwoWatchesOfOneFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "")
	w := New(WithPollInterval(time.Minute)) // only inotify can wake them in time
	a := arm(t, w, runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "ME1", Timeout: 5 * time.Second}, nil)
	b := arm(t, w, runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Engine: "ME2", Timeout: 5 * time.Second}, nil)
	got := make(chan string, 2)
	for _, wt := range []*Watch{a, b} {
		go func() {
			out, err := wt.Wait(t.Context(), nil)
			if err != nil || out.Line == nil {
				got <- fmt.Sprintf("error %v", err)
				return
			}
			got <- out.Line.Vars["engine"]
		}()
	}
	time.Sleep(20 * time.Millisecond)
	a.Close() // closing one must not stop the other's notification
	appendTo(t, log, flushDone("ME2"))
	results := map[string]bool{}
	for range 2 {
		select {
		case g := <-got:
			results[g] = true
		case <-time.After(3 * time.Second):
			t.Fatalf("only %v within 3s: the second watch of the file was not woken", results)
		}
	}
	if !results["ME2"] || !results["error log watch is closed"] {
		t.Fatalf("results %v, want ME2 from the open watch and ErrClosed from the closed one", results)
	}
}
