package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// The test binary doubles as the child process: with helperEnv set it acts
// out one of the modes below instead of running the tests.
const helperEnv = "DRILLBOOK_PROC_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(mode string, args []string) int {
	switch mode {
	case "argv": // write the arguments, NUL-separated, to the file named by $ARGV_FILE
		var b bytes.Buffer
		for _, a := range args {
			b.WriteString(a)
			b.WriteByte(0)
		}
		if err := os.WriteFile(os.Getenv("ARGV_FILE"), b.Bytes(), 0o600); err != nil {
			return 2
		}
		return 0
	case "ignore-int": // ignore SIGINT, say so, and sleep
		signal.Ignore(syscall.SIGINT)
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return 0
	case "spawn": // start a grandchild that ignores SIGINT, print its pid, sleep
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), helperEnv+"=ignore-int")
		gc.Stdout = os.Stdout
		if err := gc.Start(); err != nil {
			return 2
		}
		fmt.Println("grandchild", gc.Process.Pid)
		time.Sleep(time.Minute)
		return 0
	case "echo": // answer each stdin line, then a prompt without newline
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "prompt" {
				fmt.Print("Password: ")
				continue
			}
			fmt.Println("got " + sc.Text())
		}
		return 0
	}
	return 3
}

// lines is a concurrency-safe Output that keeps everything.
type lines struct {
	mu   sync.Mutex
	got  []string
	seen chan string
}

func newLines() *lines { return &lines{seen: make(chan string, 1024)} }

func (l *lines) Line(s runbook.Stream, text string) {
	l.mu.Lock()
	l.got = append(l.got, string(s)+": "+text)
	l.mu.Unlock()
	select {
	case l.seen <- text:
	default:
	}
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

// waitFor waits until a line with the prefix is seen and returns it.
func (l *lines) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-l.seen:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-timeout:
			t.Fatalf("no line starting with %q within 20s; lines: %q", prefix, l.all())
		}
	}
}

func helperSpec(mode string, args ...string) Spec {
	return Spec{
		Argv: append([]string{os.Args[0]}, args...),
		Env:  []string{helperEnv + "=" + mode},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestShellSyntaxReachesChildAsOneLiteralArgument(t *testing.T) {
	nasty := "x; rm -rf / $(id) `id` \"'\nsecond line\n\t|& > /tmp/owned *"
	file := filepath.Join(t.TempDir(), "argv")
	spec := helperSpec("argv", nasty, "")
	spec.Env = append(spec.Env, "ARGV_FILE="+file)
	if _, err := Run(testCtx(t), spec); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(nasty + "\x00" + "\x00")
	if !bytes.Equal(got, want) {
		t.Fatalf("child saw argv %q, want %q", got, want)
	}
}

func TestCancelKillsProcessThatIgnoresSIGINT(t *testing.T) {
	out := newLines()
	spec := helperSpec("ignore-int")
	spec.Out = out
	spec.WaitDelay = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	var oc Outcome
	var err error
	go func() { oc, err = Run(ctx, spec); close(done) }()
	out.waitFor(t, "ready")
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want one wrapping context.Canceled", err)
	}
	if oc.Signal != "killed" || !oc.Cancelled {
		t.Fatalf("outcome signal %q cancelled %v, want killed after ignoring SIGINT", oc.Signal, oc.Cancelled)
	}
}

func TestCancelEndsTheWholeProcessGroup(t *testing.T) {
	out := newLines()
	spec := helperSpec("spawn")
	spec.Out = out
	spec.WaitDelay = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { _, err := Run(ctx, spec); done <- err }()
	line := out.waitFor(t, "grandchild ")
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild "))
	if err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "ready") // the grandchild has set SIGINT to ignored
	if !running(pid) {
		t.Fatalf("grandchild %d not running before cancel", pid)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want one wrapping context.Canceled", err)
	}
	if running(pid) {
		t.Fatalf("grandchild %d still running after cancel", pid)
	}
}

// running reports whether pid is a live process: kill(pid, 0) succeeds and
// it is not a zombie left for an init that does not reap.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || len(b) < i+3 || b[i+2] != 'Z'
}

func TestStdinIsClosed(t *testing.T) {
	oc, err := Run(testCtx(t), Spec{Argv: []string{"cat"}})
	if err != nil {
		t.Fatalf("cat with no arguments: %v (it should read end of file at once)", err)
	}
	if oc.ExitCode != 0 || oc.Lines != 0 {
		t.Fatalf("cat: exit %d, %d lines; want 0 and 0", oc.ExitCode, oc.Lines)
	}
}

func TestStdinReader(t *testing.T) {
	oc, err := Run(testCtx(t), Spec{Argv: []string{"cat"}, Stdin: strings.NewReader("one\ntwo\n"), Capture: 100})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Stdout != "one\ntwo\n" {
		t.Fatalf("stdout %q", oc.Stdout)
	}
}

func TestTimeoutWrapsDeadlineExceeded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	oc, err := Run(ctx, Spec{Argv: []string{"sleep", "30"}, WaitDelay: time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if oc.Signal != "interrupt" {
		t.Fatalf("signal %q, want interrupt (sleep stops on SIGINT)", oc.Signal)
	}
}

func TestExitCodeAndStderrInError(t *testing.T) {
	out := newLines()
	oc, err := Run(testCtx(t), Spec{
		Argv: []string{"sh", "-c", "echo first >&2; echo out; echo 'no such engine' >&2; exit 3"},
		Out:  out,
	})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v, want *ExitError", err)
	}
	if ee.Code != 3 || oc.ExitCode != 3 {
		t.Fatalf("exit code %d/%d, want 3", ee.Code, oc.ExitCode)
	}
	msg := err.Error()
	if !strings.Contains(msg, "exited with status 3") || !strings.Contains(msg, "no such engine") {
		t.Fatalf("error %q lacks the status or the last stderr line", msg)
	}
	got := out.all()
	if len(got) != 5 || got[0] != "info: $ sh -c 'echo first >&2; echo out; echo '\\''no such engine'\\'' >&2; exit 3'" {
		t.Fatalf("lines %q", got)
	}
	if !strings.HasPrefix(got[4], "info: sh exited with status 3 after ") {
		t.Fatalf("last line %q", got[4])
	}
}

func TestSecretNeverInOutput(t *testing.T) {
	const secret = "s3cr3t-PW"
	out := newLines()
	_, err := Run(testCtx(t), Spec{
		Argv:    []string{"sh", "-c", `echo "pw is $1"; echo "bad $1" >&2; exit 1`, "sh", secret},
		Dir:     t.TempDir(),
		Secrets: []string{secret, ""},
		Out:     out,
	})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error shows the secret: %v", err)
	}
	masked := 0
	for _, l := range out.all() {
		if strings.Contains(l, secret) {
			t.Fatalf("line shows the secret: %q", l)
		}
		masked += strings.Count(l, "***")
	}
	if masked != 3 {
		t.Fatalf("%d masked occurrences in %q, want 3 (command line, stdout, stderr)", masked, out.all())
	}
}

func TestLongLinesSplitAndInvalidUTF8Kept(t *testing.T) {
	out := newLines()
	script := `head -c 150000 /dev/zero | tr '\0' a; printf '\n\377\376 bad\r\nlast'`
	oc, err := Run(testCtx(t), Spec{Argv: []string{"sh", "-c", script}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range out.all() {
		if s, ok := strings.CutPrefix(l, "stdout: "); ok {
			got = append(got, s)
		}
	}
	a := strings.Repeat("a", MaxLine)
	want := []string{a, a, strings.Repeat("a", 150000-2*MaxLine), "\xff\xfe bad", "last"}
	if len(got) != len(want) || oc.Lines != int64(len(want)) {
		t.Fatalf("%d lines (counted %d), want %d", len(got), oc.Lines, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %d bytes %q..., want %d bytes", i, len(got[i]), got[i][:min(len(got[i]), 10)], len(want[i]))
		}
	}
}

func TestManyLinesInOrder(t *testing.T) {
	var n int
	var last string
	bad := ""
	out := runbook.OutputFunc(func(s runbook.Stream, text string) {
		if s != runbook.Stdout {
			return
		}
		n++
		if bad == "" && text != strconv.Itoa(n) {
			bad = fmt.Sprintf("line %d is %q", n, text)
		}
		last = text
	})
	oc, err := Run(testCtx(t), Spec{Argv: []string{"seq", "1", "200000"}, Out: out, TailLines: 2})
	if err != nil {
		t.Fatal(err)
	}
	if bad != "" || n != 200000 || last != "200000" || oc.Lines != 200000 {
		t.Fatalf("%d lines, last %q, counted %d; %s", n, last, oc.Lines, bad)
	}
	if fmt.Sprint(oc.StdoutTail) != "[199999 200000]" {
		t.Fatalf("tail %q", oc.StdoutTail)
	}
}

func TestCaptureTruncates(t *testing.T) {
	oc, err := Run(testCtx(t), Spec{Argv: []string{"seq", "1", "1000"}, Capture: 10})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Stdout != "1\n2\n3\n4\n5\n" || !oc.Truncated {
		t.Fatalf("captured %q truncated %v", oc.Stdout, oc.Truncated)
	}
}

func TestProgramNotFound(t *testing.T) {
	_, err := Run(testCtx(t), Spec{Argv: []string{"/nonexistent/wsadmin.sh"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/wsadmin.sh not found") {
		t.Fatalf("error = %v", err)
	}
	_, err = Run(testCtx(t), Spec{})
	if err == nil {
		t.Fatal("empty argv: want an error")
	}
}

func TestBackgroundChildHoldingOutputDoesNotHang(t *testing.T) {
	out := newLines()
	oc, err := Run(testCtx(t), Spec{
		Argv:      []string{"sh", "-c", "sleep 5 & echo started"},
		Out:       out,
		WaitDelay: 100 * time.Millisecond,
	})
	if err != nil || oc.ExitCode != 0 {
		t.Fatalf("exit %d, %v", oc.ExitCode, err)
	}
	found := false
	for _, l := range out.all() {
		found = found || strings.Contains(l, "still holds its output open")
	}
	if !found {
		t.Fatalf("no notice about the background process in %q", out.all())
	}
}

// TestOnlyEnvKeepsDrillbookEnvironmentOut: with OnlyEnv a child sees the
// variables it was given and none of drillbook's own (a password variable
// named in targets.yaml); without it, it inherits them.
func TestOnlyEnvKeepsDrillbookEnvironmentOut(t *testing.T) {
	t.Setenv("DRILLBOOK_TEST_PLANTED_PW", "planted-Pw-4471")
	for _, only := range []bool{true, false} {
		oc, err := Run(testCtx(t), Spec{Argv: []string{"/usr/bin/env"}, Env: []string{"WANTED=yes"}, OnlyEnv: only, Capture: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		hasWanted := strings.Contains(oc.Stdout, "WANTED=yes\n")
		hasPlanted := strings.Contains(oc.Stdout, "planted-Pw-4471")
		if !hasWanted || hasPlanted == only {
			t.Errorf("OnlyEnv=%v: child environment has WANTED=%v, the planted password=%v:\n%s", only, hasWanted, hasPlanted, oc.Stdout)
		}
	}
}
