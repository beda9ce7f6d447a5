package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Line(s runbook.Stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, string(s)+": "+text)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func TestRemoteArgvArrivesLiterally(t *testing.T) {
	s, _ := remoteSet(t)
	h, err := s.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := "x; rm -rf / $(id) `id` \"'\nline two\n\\ * ~ && || > /tmp/x"
	file := filepath.Join(t.TempDir(), "argv")
	out := &lines{}
	oc, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", `printf '%s\0' "$@" > "$0"; echo done`, file, value, "last"}, Out: out})
	if err != nil {
		t.Fatalf("run: %v (lines %q)", err, out.all())
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte(value + "\x00last\x00"); !bytes.Equal(got, want) {
		t.Fatalf("remote child got %q, want %q", got, want)
	}
	if oc.ExitCode != 0 || !strings.Contains(strings.Join(out.all(), "\n"), "stdout: done") {
		t.Fatalf("outcome %+v lines %q", oc, out.all())
	}
}

// remoteHost returns the host "far" of a fresh test sshd.
func remoteHost(t *testing.T) (Host, *Set) {
	t.Helper()
	s, _ := remoteSet(t)
	h, err := s.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func TestRemoteStdinIsClosed(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &lines{}
	// A program that reads its input (a password prompt) gets end of file
	// at once instead of waiting.
	_, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", `if read -r line; then echo "read: $line"; else echo "stdin: end of file"; fi`}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.all(), "\n"); !strings.Contains(got, "stdout: stdin: end of file") {
		t.Fatalf("remote stdin was not closed: %q", got)
	}
	// Given input, the command reads exactly it.
	out = &lines{}
	if _, err := h.Run(ctx, Command{Argv: []string{"cat"}, Stdin: strings.NewReader("print 'hello'\n"), Out: out}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.all(), "\n"); !strings.Contains(got, "stdout: print 'hello'") {
		t.Fatalf("remote stdin: %q", got)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// readPids waits for the file a remote script writes its pids to.
func readPids(t *testing.T, path string) []int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Count(string(b), "\n") >= 2 {
			var pids []int
			for _, f := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file %q", b)
				}
				pids = append(pids, n)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote command did not write its pids to %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone waits until none of pids runs.
func waitGone(t *testing.T, what string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: processes %v still run 60s later", what, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupScript starts a background child and a foreground one and writes
// both pids, so a test can see that the whole group ends.
const groupScript = `sleep 300 & echo $! > "$0.tmp"; echo $$ >> "$0.tmp"; mv "$0.tmp" "$0"; echo started; sleep 301; wait`

func TestRemoteTimeoutEndsTheProcessGroup(t *testing.T) {
	h, _ := remoteHost(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out := &lines{}
	start := time.Now()
	oc, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", groupScript, pidFile}, Out: out, WaitDelay: time.Second})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a remote command past its timeout: err %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "host far:") {
		t.Fatalf("the error does not name the host: %v", err)
	}
	if !oc.Cancelled {
		t.Fatalf("outcome %+v: want Cancelled", oc)
	}
	if took > time.Minute {
		t.Fatalf("the timed-out command took %s to end", took)
	}
	waitGone(t, "after the timeout", readPids(t, pidFile))
}

func TestRemoteCancelEndsTheProcessGroup(t *testing.T) {
	h, _ := remoteHost(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", groupScript, pidFile}, WaitDelay: time.Second})
		done <- err
	}()
	pids := readPids(t, pidFile)
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("pid %d is not running before the cancel", p)
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled remote command: %v, want context.Canceled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the cancelled remote command did not return within 60s")
	}
	waitGone(t, "after the cancel", pids)
}

func TestRemoteSecretsStayOffCommandLines(t *testing.T) {
	h, _ := remoteHost(t)
	const secret = "s3cr3t-Hunter2-drillbook"
	pidFile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &lines{}
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, Command{
			Argv:    []string{"sh", "-c", `echo "the password is $DB_PASSWORD"; sleep 300 >/dev/null 2>&1 & echo $! > "$0.tmp"; echo $$ >> "$0.tmp"; mv "$0.tmp" "$0"; sleep 2`, pidFile},
			Env:     []string{"DB_PASSWORD=" + secret},
			Secrets: []string{secret},
			Out:     out,
		})
		done <- err
	}()
	pids := readPids(t, pidFile)
	defer syscall.Kill(pids[0], syscall.SIGKILL)
	// Every process on this machine (the remote side, the agent, ssh and
	// sshd are all here): none has the secret on its command line.
	ps, err := exec.Command("ps", "-eo", "pid,args").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ps), secret) {
		t.Fatalf("the secret is on a command line:\n%s", ps)
	}
	if !strings.Contains(string(ps), strconv.Itoa(pids[1])) {
		t.Fatalf("ps does not list the remote shell %d: the check saw nothing", pids[1])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := strings.Join(out.all(), "\n")
	if strings.Contains(got, secret) || !strings.Contains(got, "stdout: the password is ***") {
		t.Fatalf("output with the secret: %q", got)
	}
}

func TestRemoteExitStatusAndOutputLineByLine(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The command goes on only once its first line has arrived here: if
	// output came at the end, it would never end.
	gate := filepath.Join(t.TempDir(), "gate")
	out := runbook.OutputFunc(func(s runbook.Stream, text string) {
		if text == "first" {
			os.WriteFile(gate, nil, 0o644)
		}
	})
	oc, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", `echo first; while [ ! -e "$0" ]; do sleep 0.05; done; echo oops >&2; exit 3`, gate}, Out: out})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || oc.ExitCode != 3 {
		t.Fatalf("exit 3 on the host: err %v outcome %+v", err, oc)
	}
	if strings.Join(ee.Stderr, "|") != "oops" || !strings.Contains(err.Error(), "host far: sh exited with status 3 (stderr: oops)") {
		t.Fatalf("error %q", err)
	}
}

// blockingWriter blocks every write until release is closed.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestSlowStreamDoesNotStopOtherCalls: a tree streamed to a consumer that
// does not read (a far destination that stalls) fills only its own window;
// other calls on the same connection, and their output, still go through.
func TestSlowStreamDoesNotStopOtherCalls(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := filepath.Join(t.TempDir(), "store")
	makeTree(t, src, 32<<20)
	w := blockingWriter{release: make(chan struct{})}
	sent := make(chan error, 1)
	go func() {
		_, err := h.SendTree(ctx, src, w)
		sent <- err
	}()
	// Wait until the stream stops growing: with the window, at about 4
	// MiB; without it, at 32 MiB.
	var in, last int64
	stable := time.Now()
	for deadline := time.Now().Add(60 * time.Second); ; {
		in, _ = h.(*Remote).Traffic()
		if in != last {
			last, stable = in, time.Now()
		}
		if in >= streamWindow/2 && time.Since(stable) > 500*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not settle within 60s (%d bytes so far)", in)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if in > streamWindow+2*dataChunk+64<<10 {
		t.Fatalf("%d bytes arrived for a consumer that reads nothing: the window (%d) does not hold", in, streamWindow)
	}
	out := &lines{}
	start := time.Now()
	if _, err := h.Run(ctx, Command{Argv: []string{"seq", "1000"}, Out: out}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range out.all() {
		if strings.HasPrefix(l, "stdout: ") {
			n++
		}
	}
	if n != 1000 || time.Since(start) > time.Minute {
		t.Fatalf("a command beside a stalled stream: %d lines in %s", n, time.Since(start))
	}
	close(w.release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestRemoteOutputArrivesWholeAndInOrder: a command writes more output
// than the connection's window while drillbook here takes its time with
// the first line (a slow screen, a busy journal): every line still
// arrives, in order, although the command ended long before and its wait
// delay (after which proc stops reading a finished command's output) is
// short.
func TestRemoteOutputArrivesWholeAndInOrder(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 200 characters a line: the window holds about 19 400 of them, and
	// the rest wait in the pipe when the command exits.
	const n = 19600
	next := 1
	bad := ""
	oc, err := h.Run(ctx, Command{Argv: []string{"seq", "-f", "%0200g", "1", strconv.Itoa(n)}, WaitDelay: time.Second, Out: runbook.OutputFunc(func(s runbook.Stream, text string) {
		if s != runbook.Stdout || bad != "" {
			return
		}
		if next == 1 {
			time.Sleep(3 * time.Second)
		}
		if want := fmt.Sprintf("%0200d", next); text != want {
			bad = fmt.Sprintf("line %d is %.20q...", next, text)
		}
		next++
	})})
	if err != nil || bad != "" || next != n+1 || oc.Lines != n {
		t.Fatalf("%d lines arrived (%s), outcome %d lines, err %v", next-1, bad, oc.Lines, err)
	}
}

// TestOneConnectionPerHost: every call of a run on a host goes over one
// SSH connection (one login in sshd's log), however many and of whatever
// kind.
func TestOneConnectionPerHost(t *testing.T) {
	s, srv := remoteSet(t)
	h, _ := s.Get("far")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for i := range 10 {
		if _, err := h.Run(ctx, Command{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, filepath.Join(dir, strconv.Itoa(i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Manifest(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(srv.Log(), "Accepted publickey"); n != 1 {
		t.Fatalf("30 calls made %d logins, want 1:\n%s", n, srv.Log())
	}
}
