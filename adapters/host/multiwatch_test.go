package host

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// A wait whose files sit on two hosts (a server log on "far", behind a real
// sshd, and one on "near", this machine) is armed once on each: the stale
// line of either is never seen, a record on either reaches the caller, the
// first success on any host ends the whole watch even with a rename
// rotation right after the line, a failure on one host ends it as a
// failure, and a resumed watch starts each host's files where the journal
// left them. Both hosts share this machine's file system (the sshd runs on
// loopback); what tells them apart is that "far"'s files are read by the
// agent behind sshd.
func TestWatchAcrossHostsIsOneWatchPerHost(t *testing.T) {
	srv := sshdtest.Start(t)
	tg := &runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{
		"far":  srv.Host("far", testAgent(t)),
		"near": {Name: "near"},
	}}
	s := NewSet(tg, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { s.Close() })
	farDir, nearDir := t.TempDir(), t.TempDir()
	w := Watcher{Hosts: s, Locate: func(p string) string {
		switch {
		case strings.HasPrefix(p, farDir):
			return "far"
		case strings.HasPrefix(p, nearDir):
			return "near"
		}
		return ""
	}}
	far, near := filepath.Join(farDir, "SystemOut.log"), filepath.Join(nearDir, "SystemOut.log")
	stale := sibLine(0, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed. stale")
	appendTo(t, far, stale)
	appendTo(t, near, stale)
	spec := runbook.WatchSpec{Files: []string{near, far}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Engine: "ME1", Timeout: 2 * time.Minute}

	if got := w.HostsOf(spec); strings.Join(got, ",") != "near,far" {
		t.Fatalf("HostsOf = %q, want near,far", got)
	}
	wait := func(wt runbook.Watch) (runbook.WatchOutcome, []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var seen []string
		oc, err := wt.Wait(ctx, func(ll runbook.LogLine) { seen = append(seen, ll.File+": "+strings.TrimSpace(ll.Text)) })
		if err != nil {
			t.Fatalf("wait: %v (lines %q)", err, seen)
		}
		return oc, seen
	}

	// Success on far, right before a rename rotation; a record on near.
	wt, err := w.Arm(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	pos := wt.Positions()
	if len(pos) != 2 || pos[0].Path != near || pos[1].Path != far || pos[0].Offset != int64(len(stale)) || pos[1].Offset != int64(len(stale)) {
		t.Fatalf("start positions %+v: want near then far, each at the end of its stale line", pos)
	}
	if !strings.Contains(srv.Log(), "Accepted publickey") {
		t.Fatalf("far's watch was not armed through sshd:\n%s", srv.Log())
	}
	appendTo(t, near, sibLine(1, "CWSIP0781I", "ME1", "Messaging engine: ME1 restarting on near."))
	appendTo(t, far, sibLine(2, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed. fresh"))
	rotated := rotateByRename(t, far, 2)
	oc, seen := wait(wt)
	wt.Close()
	if oc.Kind != runbook.MatchSuccess || oc.Line == nil || !strings.Contains(oc.Line.Text, "fresh") {
		t.Fatalf("outcome %+v, lines %q: want far's fresh CWSIP0783", oc, seen)
	}
	if oc.Line.File != far && oc.Line.File != rotated {
		t.Errorf("the success line came from %s, want far's log", oc.Line.File)
	}
	if all := strings.Join(seen, "\n"); strings.Contains(all, "stale") {
		t.Errorf("a stale line was seen:\n%s", all)
	}
	if len(oc.Positions) != 2 || oc.Positions[0].Path != near || oc.Positions[1].Path != far {
		t.Errorf("end positions %+v: want near then far", oc.Positions)
	}

	// A failure on near ends the watch as a failure; far's watch ends too.
	wt, err = w.Arm(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, near, sibLine(3, "CWSIP0782E", "ME1", "Messaging engine: ME1 could not flush."))
	oc, seen = wait(wt)
	wt.Close()
	if oc.Kind != runbook.MatchFailure || oc.Line == nil || oc.Line.File != near {
		t.Fatalf("outcome %+v, lines %q: want near's CWSIP0782 failure", oc, seen)
	}

	// Resume from where that watch ended, as the journal keeps it: far's
	// success written since is found, near's failure is not read again.
	appendTo(t, far, sibLine(4, "CWSIP0783I", "ME1", "Messaging engine: ME1 started, flush of all delivery streams completed. after"))
	wt, err = w.Arm(spec, oc.Positions)
	if err != nil {
		t.Fatal(err)
	}
	oc, seen = wait(wt)
	wt.Close()
	if oc.Kind != runbook.MatchSuccess || oc.Line == nil || !strings.Contains(oc.Line.Text, "after") {
		t.Fatalf("resumed outcome %+v, lines %q: want far's CWSIP0783 written while the watch was down", oc, seen)
	}
	if all := strings.Join(seen, "\n"); strings.Contains(all, "could not flush") || strings.Contains(all, "fresh") {
		t.Errorf("the resumed watch read before its positions:\n%s", all)
	}
}
