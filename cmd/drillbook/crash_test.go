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
)

// drillbookCmd runs this test binary as a real drillbook process.
func drillbookCmd(t *testing.T, state string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testBinary(), args...)
	cmd.Env = append(os.Environ(), "DRILLBOOK_TEST_MAIN=1", "DRILLBOOK_STATE_DIR="+state, "DRILLBOOK_OPERATOR=tester", "XDG_CONFIG_HOME="+t.TempDir())
	return cmd
}

func runDrillbook(t *testing.T, state string, args ...string) (string, int) {
	t.Helper()
	cmd := drillbookCmd(t, state, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run drillbook: %v", err)
	}
	return out.String(), code
}

// waitForFile waits until path exists, up to a generous limit.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// killGroupFromPIDFile ends a step's process group that outlived drillbook.
func killGroupFromPIDFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

const crashRunbook = `schema: drillbook/v1
id: crash
title: Crash and resume
params:
  - {name: dir, type: path, required: true}
steps:
  - id: before
    action: shell.run
    with: {argv: [sh, -c, 'echo x >> "$1/before"', sh, "{{ .dir }}"]}
  - id: replace
    title: Replace the store
    destructive: true
    confirm: store1
    action: shell.run
    with: {argv: [sh, -c, 'echo $$ > "$1/pid"; echo run >> "$1/runs"; touch "$1/replaced"; sleep 60', sh, "{{ .dir }}"]}
    verify:
      action: shell.run
      with: {argv: [test, -e, "{{ .dir }}/replaced"]}
  - id: after
    action: shell.run
    with: {argv: [sh, -c, 'echo x >> "$1/after"', sh, "{{ .dir }}"]}
`

// TestKill9ThenResumeReconcilesTheStep kills a real drillbook with SIGKILL
// while a destructive step runs, damages the journal's last line as a crash
// mid-write would, and resumes: the step is decided by its verify, not run
// again, and the run completes.
func TestKill9ThenResumeReconcilesTheStep(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	rbPath := filepath.Join(work, "crash.yaml")
	os.WriteFile(rbPath, []byte(crashRunbook), 0o644)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })

	cmd := drillbookCmd(t, state, "run", rbPath, "--plain", "--param", "dir="+work, "--confirm", "replace=store1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(work, "replaced"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killGroupFromPIDFile(filepath.Join(work, "pid"))

	// A crash in the middle of a write leaves half a line.
	journals, _ := filepath.Glob(filepath.Join(state, "runs", "*", "journal.jsonl"))
	if len(journals) != 1 {
		t.Fatalf("want one journal, found %v", journals)
	}
	f, _ := os.OpenFile(journals[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":999,"time":"2026-11-23T08:00:00Z","ev":{"type":"call.out`)
	f.Close()

	text, code := runDrillbook(t, state, "runs")
	if code != 0 || !strings.Contains(text, "resumable  replace") {
		t.Fatalf("runs after the crash (exit %d):\n%s", code, text)
	}
	text, code = runDrillbook(t, state, "resume", "last", "--plain")
	if code != 0 {
		t.Fatalf("resume exited %d:\n%s", code, text)
	}
	for _, want := range []string{"resumed", "verify ok", "step replace: reconciled as succeeded: verify passed after resume", "step after: succeeded", "run: succeeded"} {
		if !strings.Contains(text, want) {
			t.Errorf("resume output lacks %q:\n%s", want, text)
		}
	}
	runs, _ := os.ReadFile(filepath.Join(work, "runs"))
	if got := strings.Count(string(runs), "run"); got != 1 {
		t.Fatalf("the destructive step ran %d times; it must not run again after the crash", got)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "before")); strings.Count(string(b), "x") != 1 {
		t.Fatalf("the step before the crash ran again: %q", b)
	}
	rep, _ := runDrillbook(t, state, "report", "last")
	if !strings.Contains(rep, "reconciled after resume as succeeded by its verify. Reason: verify passed after resume") {
		t.Errorf("the report does not record the reconciliation:\n%s", rep)
	}
}

// TestKill9WithoutVerifyAsksTheOperator resumes a step that has no verify:
// plain mode stops with exit 3 naming --outcome; --outcome rerun asks for a
// new confirmation before the destructive step runs again.
func TestKill9WithoutVerifyAsksTheOperator(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	rb := strings.Replace(crashRunbook, `    verify:
      action: shell.run
      with: {argv: [test, -e, "{{ .dir }}/replaced"]}
`, "", 1)
	rb = strings.Replace(rb, "sleep 60", `test -e "$1/second" || sleep 60`, 1)
	rbPath := filepath.Join(work, "crash.yaml")
	os.WriteFile(rbPath, []byte(rb), 0o644)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })

	cmd := drillbookCmd(t, state, "run", rbPath, "--plain", "--param", "dir="+work, "--confirm", "replace=store1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(work, "replaced"))
	cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	killGroupFromPIDFile(filepath.Join(work, "pid"))

	text, code := runDrillbook(t, state, "resume", "last", "--plain")
	if code != exitNeedConfirm || !strings.Contains(text, "--outcome replace=succeeded|failed|rerun") {
		t.Fatalf("resume without --outcome: exit %d:\n%s", code, text)
	}
	text, code = runDrillbook(t, state, "resume", "last", "--plain", "--outcome", "replace=rerun")
	if code != exitNeedConfirm || !strings.Contains(text, "needs confirmation") {
		t.Fatalf("rerun must ask for a new confirmation: exit %d:\n%s", code, text)
	}
	os.WriteFile(filepath.Join(work, "second"), nil, 0o644)
	text, code = runDrillbook(t, state, "resume", "last", "--plain", "--confirm", "replace=store1")
	if code != 0 {
		t.Fatalf("resume with the confirmation: exit %d:\n%s", code, text)
	}
	runs, _ := os.ReadFile(filepath.Join(work, "runs"))
	if got := strings.Count(string(runs), "run"); got != 2 {
		t.Fatalf("the step ran %d times, want 2 (once, then the confirmed rerun)", got)
	}
}

// TestInterruptIsResumableWithExit4 sends SIGINT during a step: the step's
// process group is stopped, drillbook exits 4, and resume finishes the run.
func TestInterruptIsResumableWithExit4(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	rb := strings.Replace(crashRunbook, "sleep 60", `test -e "$1/second" || sleep 60`, 1)
	rbPath := filepath.Join(work, "crash.yaml")
	os.WriteFile(rbPath, []byte(rb), 0o644)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })

	cmd := drillbookCmd(t, state, "run", rbPath, "--plain", "--param", "dir="+work, "--confirm", "replace=store1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Start()
	waitForFile(t, filepath.Join(work, "replaced"))
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit after SIGINT: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "interrupted: `drillbook resume") {
		t.Errorf("no resume hint:\n%s", out.String())
	}
	// The adapter's note that it stopped the step is shown and kept.
	if !strings.Contains(out.String(), "· stopping sh: interrupting its process group") {
		t.Errorf("the call's last line, printed while it was stopped, is missing:\n%s", out.String())
	}
	b, _ := os.ReadFile(filepath.Join(work, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !processGone(pid) {
		t.Fatalf("the step's process %d outlived the interrupt", pid)
	}
	os.WriteFile(filepath.Join(work, "second"), nil, 0o644)
	text, code := runDrillbook(t, state, "resume", "last", "--plain")
	if code != 0 || !strings.Contains(text, "run: succeeded") {
		t.Fatalf("resume: exit %d\n%s", code, text)
	}
}

// processGone treats a zombie (no reaper in some containers) as gone.
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(b), ") Z ")
}

// TestShellSyntaxArrivesLiterally passes a parameter full of shell syntax and
// newlines: the process receives it as one argv element, byte for byte.
func TestShellSyntaxArrivesLiterally(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	value := "x; rm -rf / $(id) `id` \"'\nsecond line\n|| true & > /tmp/pwned"
	rb := `schema: drillbook/v1
id: literal
title: Literal
params:
  - {name: v, required: true}
  - {name: dir, type: path, required: true}
steps:
  - id: write
    action: shell.run
    with: {argv: [sh, -c, 'printf "%s" "$1" > "$2/got"; printf "%s" "$#" > "$2/argc"', sh, "{{ .v }}", "{{ .dir }}"]}
`
	rbPath := filepath.Join(work, "literal.yaml")
	os.WriteFile(rbPath, []byte(rb), 0o644)
	text, code := runDrillbook(t, state, "run", rbPath, "--plain", "--param", "v="+value, "--param", "dir="+work)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	got, _ := os.ReadFile(filepath.Join(work, "got"))
	if string(got) != value {
		t.Fatalf("the process received %q, want %q", got, value)
	}
	argc, _ := os.ReadFile(filepath.Join(work, "argc"))
	if string(argc) != "2" {
		t.Fatalf("the value was split into several arguments: $# = %s", argc)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Fatal("the value was run by a shell")
	}
}

// testBinary is this test binary, which acts as drillbook with
// DRILLBOOK_TEST_MAIN=1.
func testBinary() string { return os.Args[0] }

// TestSecondRunIsRefusedAndNamesTheFirst starts a run that waits in a step
// and starts the same runbook again: the second is refused with exit 2 and
// says who holds the run.
func TestSecondRunIsRefusedAndNamesTheFirst(t *testing.T) {
	state, work := t.TempDir(), t.TempDir()
	rb := strings.Replace(crashRunbook, "sleep 60", `test -e "$1/second" || sleep 60`, 1)
	rbPath := filepath.Join(work, "crash.yaml")
	os.WriteFile(rbPath, []byte(rb), 0o644)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })
	first := drillbookCmd(t, state, "run", rbPath, "--plain", "--param", "dir="+work, "--confirm", "replace=store1")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	waitForFile(t, filepath.Join(work, "replaced"))

	text, code := runDrillbook(t, state, "runs")
	if code != 0 || !regexp.MustCompile(`crash-[0-9a-f]{6} +drill +training \(sim\) +running +replace`).MatchString(text) {
		t.Fatalf("runs while the first run is live (exit %d) must say running:\n%s", code, text)
	}
	text, code = runDrillbook(t, state, "run", rbPath, "--plain", "--param", "dir="+work, "--confirm", "replace=store1")
	if code != exitUsage {
		t.Fatalf("second run: exit %d, want %d:\n%s", code, exitUsage, text)
	}
	for _, want := range []string{"runbook is already running against this target", "by tester on", "drillbook resume 20"} {
		if !strings.Contains(text, want) {
			t.Errorf("refusal %q does not say %q", text, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(work, "before")); strings.Count(string(b), "x") != 1 {
		t.Fatalf("the refused run ran a step: %q", b)
	}
}
