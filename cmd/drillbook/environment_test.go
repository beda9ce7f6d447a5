package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// mountTmpfs mounts a tmpfs of size bytes (read-only with ro) on a new
// directory and unmounts it at the end of the test. It needs root.
func mountTmpfs(t *testing.T, size int64, ro bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	dir := t.TempDir()
	opts := "size=" + strconv.FormatInt(size, 10)
	if ro {
		opts += ",ro"
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// resizeTmpfs gives a mounted tmpfs a new size.
func resizeTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+strconv.FormatInt(size, 10), dir).CombinedOutput(); err != nil {
		t.Fatalf("resize the tmpfs: %v\n%s", err, out)
	}
}

const echoRunbook = `schema: drillbook/v1
id: echo
title: Echo
steps:
  - id: say
    action: shell.run
    with: {argv: [echo, hello]}
`

func writeRunbook(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rb.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFullDiskIsRefusedBeforeTheRun starts a run with its state directory on
// a 4 MiB file system: it is refused with exit 2 before anything runs,
// naming the file system and the space free, and leaves no run behind.
func TestFullDiskIsRefusedBeforeTheRun(t *testing.T) {
	fs := mountTmpfs(t, 4<<20, false)
	state := filepath.Join(fs, "state")
	text, code := runDrillbook(t, state, "run", writeRunbook(t, echoRunbook), "--plain")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, text)
	}
	want := regexp.MustCompile(`state directory ` + regexp.QuoteMeta(state) + `: the file system ` + regexp.QuoteMeta(fs) + ` \(tmpfs\) has [0-9.]+ MiB free, below the 16\.0 MiB a run needs: free space there, or point --state-dir`)
	if !want.MatchString(text) {
		t.Fatalf("the refusal does not name the file system and its free space:\n%s", text)
	}
	if runs, _ := filepath.Glob(filepath.Join(state, "runs", "*")); len(runs) != 0 {
		t.Fatalf("a refused run left %v", runs)
	}
}

// TestReadOnlyOrMissingStateDirIsAUsageError points the state directory at
// a read-only file system, and at a directory that cannot be created: exit
// 2, saying what is wrong and what to do, and nothing runs.
func TestReadOnlyOrMissingStateDirIsAUsageError(t *testing.T) {
	ro := mountTmpfs(t, 1<<20, true)
	work := t.TempDir()
	rb := writeRunbook(t, `schema: drillbook/v1
id: mark
title: Mark
params:
  - {name: dir, type: path, required: true}
steps:
  - id: mark
    action: shell.run
    with: {argv: [touch, "{{ .dir }}/ran"]}
`)
	notDir := filepath.Join(work, "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, c := range []struct {
		state, want string
	}{
		{ro, "state directory " + ro + ": it is on the read-only file system " + ro + " (tmpfs) (open "},
		{filepath.Join(ro, "state"), "state directory " + filepath.Join(ro, "state") + ": it does not exist and its file system is read-only"},
		{filepath.Join(notDir, "state"), "state directory " + filepath.Join(notDir, "state") + ": it does not exist and cannot be created"},
	} {
		for _, cmd := range [][]string{{"run", rb, "--plain", "--param", "dir=" + work}, {"resume", "last", "--plain"}} {
			text, code := runDrillbook(t, c.state, cmd...)
			if code != exitUsage || !strings.Contains(text, c.want) || !strings.Contains(text, "point --state-dir or DRILLBOOK_STATE_DIR at a writable directory") {
				t.Errorf("%s with state %s: exit %d, want %d with %q:\n%s", cmd[0], c.state, code, exitUsage, c.want, text)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(work, "ran")); err == nil {
		t.Fatal("a step ran")
	}
}

// TestDiskFullDuringARunStopsItResumable runs a step that prints about 30
// MB with the state directory on a 20 MiB file system: the run stops when
// the output no longer fits, exit 4, naming the file system and how much is
// free; runs still reads the run; once there is room, resume finishes it.
func TestDiskFullDuringARunStopsItResumable(t *testing.T) {
	fs := mountTmpfs(t, 20<<20, false)
	state := filepath.Join(fs, "state")
	work := t.TempDir()
	rb := writeRunbook(t, `schema: drillbook/v1
id: flood
title: Flood
params:
  - {name: dir, type: path, required: true}
steps:
  - id: flood
    action: shell.run
    with: {argv: [sh, -c, 'test -e "$1/second" && exit 0; seq 1 4000000', sh, "{{ .dir }}"]}
  - id: after
    action: shell.run
    with: {argv: [touch, "{{ .dir }}/after"]}
`)
	text, code := runDrillbook(t, state, "run", rb, "--plain", "--param", "dir="+work)
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInterrupted, tail(text))
	}
	want := regexp.MustCompile(`no space left on device: the file system ` + regexp.QuoteMeta(fs) + ` \(tmpfs\) has [0-9.]+ [KMG]?i?B free: the run stopped at its last record on disk and nothing more is run; free space, then ` + "`drillbook resume ")
	if !want.MatchString(text) {
		t.Fatalf("the error does not name the full file system:\n%s", tail(text))
	}
	if _, err := os.Stat(filepath.Join(work, "after")); err == nil {
		t.Fatal("the step after the full disk ran")
	}
	runs, err := runbook.ListRuns(state)
	if err != nil || len(runs) != 1 || runs[0].Problem != "" || runs[0].Status != runbook.RunInterrupted {
		t.Fatalf("runs after the full disk: %+v, %v", runs, err)
	}
	resizeTmpfs(t, fs, 64<<20)
	os.WriteFile(filepath.Join(work, "second"), nil, 0o644)
	text, code = runDrillbook(t, state, "resume", "last", "--plain", "--outcome", "flood=rerun")
	if code != exitOK || !strings.Contains(text, "run: succeeded") {
		t.Fatalf("resume after freeing space: exit %d:\n%s", code, tail(text))
	}
	if _, err := os.Stat(filepath.Join(work, "after")); err != nil {
		t.Fatal("the step after the flood did not run on resume")
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

// TestKilledStepKeepsItsOutputAndTheReportSaysItWasCut kills drillbook
// with SIGKILL while a step that printed five lines still runs: the five
// lines are on disk within the sync interval without any other event, and
// after a resume the report counts them and marks the call's output cut.
func TestKilledStepKeepsItsOutputAndTheReportSaysItWasCut(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	rb := writeRunbook(t, `schema: drillbook/v1
id: printer
title: Printer
params:
  - {name: dir, type: path, required: true}
steps:
  - id: print
    action: shell.run
    with: {argv: [sh, -c, 'echo $$ > "$1/pid"; test -e "$1/second" && exit 0; seq 1 5; sleep 60', sh, "{{ .dir }}"]}
`)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })
	cmd := drillbookCmd(t, state, "run", rb, "--plain", "--param", "dir="+work)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(work, "pid"))
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		outputs, _ := filepath.Glob(filepath.Join(state, "runs", "*", "output", "1.log"))
		if len(outputs) == 1 {
			got, _ = os.ReadFile(outputs[0])
			if bytes.Count(got, []byte("\n1 ")) >= 5 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killGroupFromPIDFile(filepath.Join(work, "pid"))
	if !bytes.Contains(got, []byte("1 1\n1 2\n1 3\n1 4\n1 5\n")) {
		t.Fatalf("the step's output on disk while it ran: %q", got)
	}
	os.WriteFile(filepath.Join(work, "second"), nil, 0o644)
	if text, code := runDrillbook(t, state, "resume", "last", "--plain", "--outcome", "print=succeeded"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, text)
	}
	rep, _ := runDrillbook(t, state, "report", "last")
	for _, want := range []string{"**output cut**: drillbook stopped without a record (a crash or a kill) while this call ran", "stopped without a record (drillbook was killed"} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report lacks %q:\n%s", want, rep)
		}
	}
	if !regexp.MustCompile("; [6-9] lines were kept in `output/1.log`").MatchString(rep) {
		t.Errorf("the report does not count the cut call's lines (its note and five lines):\n%s", rep)
	}
}

// TestRunsAndReportSayWhenAJournalFailsItsCheck changes one byte in the
// middle of a finished run's journal: runs lists the run as damaged with the
// line, report and resume refuse it with exit 2 naming the line. A journal
// written before checksums is listed and reported as unchecked.
func TestRunsAndReportSayWhenAJournalFailsItsCheck(t *testing.T) {
	state := t.TempDir()
	if text, code := runDrillbook(t, state, "run", writeRunbook(t, echoRunbook), "--plain"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, text)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "runs", "*", runbook.JournalFile))
	b, _ := os.ReadFile(journals[0])
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := bytes.Index(lines[4], []byte(`"say"`))
	if i < 0 {
		t.Fatalf("line 5 of the journal does not name the step: %s", lines[4])
	}
	lines[4][i+1] = 'S' // "say" becomes "Say": still valid JSON
	os.WriteFile(journals[0], bytes.Join(lines, nil), 0o600)

	text, code := runDrillbook(t, state, "runs")
	if code != 0 || !regexp.MustCompile(`echo-[0-9a-f]{6} +- +- +damaged +- +- +- +.*journal.jsonl:5: the record fails its checksum`).MatchString(text) {
		t.Fatalf("runs: exit %d\n%s", code, text)
	}
	for _, cmd := range [][]string{{"report", "last"}, {"resume", "last", "--plain"}} {
		text, code = runDrillbook(t, state, cmd...)
		if code != exitUsage || !strings.Contains(text, "journal.jsonl:5: the record fails its checksum: the journal was edited or damaged after it was written, and the records before line 5 are intact") {
			t.Errorf("%s: exit %d\n%s", cmd[0], code, text)
		}
	}

	// A journal without checksums, as drillbook wrote before them.
	old := bytes.Join(lines, nil)
	var unchecked [][]byte
	for _, l := range bytes.SplitAfter(old, []byte("\n")) {
		if n := len(l); n > 19 && bytes.Contains(l, []byte(`,"sum":"`)) {
			l = append(append([]byte{}, l[:n-19]...), '}', '\n')
			l = bytes.Replace(l, []byte(`,"checksums":"crc32c"`), nil, 1)
		}
		unchecked = append(unchecked, l)
	}
	os.WriteFile(journals[0], bytes.Join(unchecked, nil), 0o600)
	text, code = runDrillbook(t, state, "runs")
	if code != 0 || !strings.Contains(text, "unchecked (written before checksums)") {
		t.Fatalf("runs with an old journal: exit %d\n%s", code, text)
	}
	text, code = runDrillbook(t, state, "report", "last")
	if code != 0 || !strings.Contains(text, "| Journal | 10 records, unchecked (written before journals carried checksums) |") {
		t.Fatalf("report of an old journal: exit %d\n%s", code, text)
	}
}
