package logwatch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// hpelProfile makes a profile whose server1 logs through HPEL (its
// server.xml enables HighPerformanceExtensibleLogging, as the tWAS image's
// configHPEL.py leaves it) and, when viewer is true, a bin/logViewer.sh
// stand-in: it records its argv and LC_ALL, then prints what the test
// appends to feed, as `logViewer -monitor` prints new records. It returns
// the SystemOut.log path a runbook names and the feed and argv files.
func hpelProfile(t *testing.T, viewer bool) (log, feed, argv string) {
	t.Helper()
	profile := t.TempDir()
	xml := filepath.Join(profile, "config", "cells", "c1", "nodes", "node01", "servers", "server1", "server.xml")
	if err := os.MkdirAll(filepath.Dir(xml), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(xml, []byte(`<process:Server name="server1">
  <services xmi:type="loggingservice.hpel:HighPerformanceExtensibleLogging" xmi:id="HPEL_1" enable="true">
  </services>
</process:Server>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(profile, "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "setupCmdLine.sh"), []byte("WAS_NODE=node01\n"), 0o755)
	log = filepath.Join(profile, "logs", "server1", "SystemOut.log")
	os.MkdirAll(filepath.Join(filepath.Dir(log), "logdata"), 0o755)
	feed = filepath.Join(t.TempDir(), "feed")
	argv = filepath.Join(t.TempDir(), "argv")
	os.WriteFile(feed, nil, 0o644)
	if viewer {
		script := "#!/bin/sh\necho \"$* LC_ALL=$LC_ALL\" >> '" + argv + "'\nexec tail -n +1 -f '" + feed + "'\n"
		if err := os.WriteFile(filepath.Join(bin, "logViewer.sh"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return log, feed, argv
}

func TestHPELServerIsFollowedThroughLogViewer(t *testing.T) {
	log, feed, argvFile := hpelProfile(t, true)
	h, ok := DetectHPEL(log)
	if !ok || !strings.Contains(h.Reason, "enables HighPerformanceExtensibleLogging") {
		t.Fatalf("DetectHPEL = %+v, %t", h, ok)
	}
	w := WithHPEL(New())
	armedAt := time.Date(2026, 11, 23, 7, 56, 24, 123e6, time.UTC)
	w.now = func() time.Time { return armedAt }
	wt, err := w.Arm(runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Engine: "ME1", Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	// logViewer prints its own line first, then the records: another
	// engine's flush, then ME1's with a continuation line.
	appendTo(t, feed, "CWTRA0020I: Waiting for new records.\n"+flushDone("ME2")+
		"[11/23/26 7:56:25:001 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.\n  second line\n")
	var lines []runbook.LogLine
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := wt.Wait(ctx, func(l runbook.LogLine) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	if out.Kind != runbook.MatchSuccess || !strings.Contains(out.Line.Text, "[Bus1:ME1] CWSIP0783I") || !strings.HasSuffix(out.Line.Text, "\n  second line") {
		t.Fatalf("outcome = %+v", out.Line)
	}
	var texts []string
	for _, l := range lines {
		texts = append(texts, string(l.Kind)+"|"+strings.SplitN(l.Text, "\n", 2)[0])
	}
	if len(texts) != 4 || !strings.Contains(texts[0], "logs through HPEL") || texts[1] != "|logViewer: CWTRA0020I: Waiting for new records." ||
		!strings.Contains(texts[2], "[Bus1:ME2]") || !strings.HasPrefix(texts[3], "success|") {
		t.Fatalf("lines:\n%s", strings.Join(texts, "\n"))
	}
	// The record's time is the resume position: 7:56:25.001 UTC in ms.
	want := time.Date(2026, 11, 23, 7, 56, 25, 1e6, time.UTC).UnixMilli()
	if len(out.Positions) != 1 || out.Positions[0].Path != log || out.Positions[0].Inode != 0 || out.Positions[0].Offset != want {
		t.Errorf("positions = %+v, want offset %d", out.Positions, want)
	}
	b, _ := os.ReadFile(argvFile)
	wantArgv := "-repositoryDir " + filepath.Join(filepath.Dir(log), "logdata") + " -format basic -monitor 1 -startDate 11/23/26 7:56:24:123 GMT LC_ALL=C\n"
	if string(b) != wantArgv {
		t.Errorf("logViewer ran as\n%q\nwant\n%q", b, wantArgv)
	}

	// A watch resumed from that position starts logViewer there.
	wt2, err := w.Arm(runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Timeout: 2 * time.Second}, out.Positions)
	if err != nil {
		t.Fatal(err)
	}
	defer wt2.Close()
	if _, err := wt2.Wait(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(argvFile)
	if !strings.Contains(string(b), "-startDate 11/23/26 7:56:25:001 GMT") {
		t.Errorf("resumed logViewer ran as %q", b)
	}
}

func TestHPELServerWithoutLogViewerFailsAtOnce(t *testing.T) {
	log, _, _ := hpelProfile(t, false)
	_, err := WithHPEL(New()).Arm(runbook.WatchSpec{Files: []string{log}, Success: []string{"WSVR0001I"}, Timeout: time.Hour}, nil)
	if err == nil || !strings.Contains(err.Error(), "logs through HPEL") || !strings.Contains(err.Error(), "switch the server to basic logging") {
		t.Fatalf("err = %v", err)
	}
}

// A server found logging through HPEL only by its repository: the
// repository is newer than a SystemOut.log left from before the switch.
func TestHPELDetectedByANewerRepository(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "profile", "logs", "server1", "SystemOut.log")
	os.MkdirAll(filepath.Join(filepath.Dir(log), "logdata"), 0o755)
	appendTo(t, log, flushDone("ME1"))
	old := time.Now().Add(-time.Hour)
	os.Chtimes(log, old, old)
	if _, ok := DetectHPEL(log); ok {
		t.Fatal("an empty repository counted as HPEL")
	}
	appendTo(t, filepath.Join(filepath.Dir(log), "logdata", "log_2026.wbl"), "x")
	h, ok := DetectHPEL(log)
	if !ok || !strings.Contains(h.Reason, "after its SystemOut.log") {
		t.Fatalf("DetectHPEL = %+v, %t", h, ok)
	}
	// A plain server's watch goes to the wrapped watcher unchanged.
	plain := filepath.Join(dir, "plain", "SystemOut.log")
	os.MkdirAll(filepath.Dir(plain), 0o755)
	appendTo(t, plain, "")
	wt, err := WithHPEL(New()).Arm(runbook.WatchSpec{Files: []string{plain}, Success: []string{"CWSIP0783"}, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	if _, ok := wt.(*Watch); !ok {
		t.Errorf("a plain server's watch is a %T", wt)
	}
}
