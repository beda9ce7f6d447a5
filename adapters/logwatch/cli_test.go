package logwatch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunCLI(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	stale := flushDone("ME1")
	appendTo(t, log, stale)
	// run runs the CLI while write is appended to log. A line to write is
	// appended before the watch starts, and the watch is told to start at
	// the file's end as it was before: the outcome does not depend on
	// whether RunCLI armed its watch before or after the append.
	run := func(o CLIOptions, write string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if write != "" && o.From == "" {
			st, err := os.Stat(log)
			if err != nil {
				t.Fatal(err)
			}
			o.From = strconv.FormatInt(st.Size(), 10)
			appendTo(t, log, write)
		}
		return RunCLI(context.Background(), o, &stdout, &stderr), stdout.String(), stderr.String()
	}
	base := CLIOptions{Logs: []string{log}, Success: []string{"CWSIP0783"}, Failure: []string{"CWSIP0782"}, Warn: []string{"CWSIP0784"}, Engine: "ME1", Timeout: 3 * time.Second}

	code, out, _ := run(base, sib("ME1", "CWSIP0784W", "A remote message request is no longer valid.")+flushDone("ME1"))
	if code != ExitSuccess || strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, "WARN    "+log+": ") || !strings.Contains(out, "SUCCESS "+log+": [11/23/26") {
		t.Errorf("success: exit %d, stdout %q", code, out)
	}

	code, out, _ = run(base, sib("ME1", "CWSIP0782E", "Messaging engine: ME1 started, flush of stream: S and destination: D failed with the exception: E."))
	if code != ExitFailure || !strings.HasPrefix(out, "FAILURE ") {
		t.Errorf("failure: exit %d, stdout %q", code, out)
	}

	o := base
	o.Timeout = 100 * time.Millisecond
	code, out, errOut := run(o, "")
	if code != ExitTimeout || out != "" || !strings.Contains(errOut, "no success or failure line within 100ms") {
		t.Errorf("timeout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// --from start finds the line written before; --from OFFSET past it does not.
	log2 := filepath.Join(dir, "other", "SystemOut.log")
	os.MkdirAll(filepath.Dir(log2), 0o755)
	appendTo(t, log2, stale)
	o = base
	o.Logs = []string{log2}
	o.From = "start"
	code, out, _ = run(o, "")
	if code != ExitSuccess || !strings.Contains(out, strings.TrimSuffix(stale, "\n")) {
		t.Errorf("--from start: exit %d, stdout %q", code, out)
	}
	o.From = strconv.Itoa(len(stale))
	o.Timeout = 100 * time.Millisecond
	if code, _, _ = run(o, ""); code != ExitTimeout {
		t.Errorf("--from %s: exit %d, want %d", o.From, code, ExitTimeout)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := RunCLI(ctx, base, &bytes.Buffer{}, &bytes.Buffer{}); code != ExitInterrupted {
		t.Errorf("cancelled: exit %d", code)
	}
}

func TestRunCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "SystemOut.log")
	appendTo(t, log, "x\n")
	cases := []struct {
		o    CLIOptions
		want string
	}{
		{CLIOptions{Success: []string{"X"}}, "no log file given: pass --log PATH"},
		{CLIOptions{Logs: []string{log}}, "no pattern given"},
		{CLIOptions{Logs: []string{log}, Success: []string{"a(b"}}, `success pattern "a(b" does not compile`},
		{CLIOptions{Logs: []string{filepath.Join(dir, "missing", "SystemOut.log")}, Success: []string{"X"}}, "does not exist"},
		{CLIOptions{Logs: []string{log}, Success: []string{"X"}, From: "middle"}, `--from "middle" is not end, start or a byte offset`},
		{CLIOptions{Logs: []string{log}, Success: []string{"X"}, Timeout: -time.Second}, "is negative"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := RunCLI(context.Background(), c.o, &stdout, &stderr)
		if code != ExitBadInput || !strings.Contains(stderr.String(), c.want) || stdout.Len() != 0 {
			t.Errorf("RunCLI(%+v) = %d, stderr %q; want %d and %q", c.o, code, stderr.String(), ExitBadInput, c.want)
		}
	}
	if !strings.Contains(CLIExample, "drillbook watch --log") {
		t.Errorf("CLIExample does not show a command: %q", CLIExample)
	}
}
