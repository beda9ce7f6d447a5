package shell

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

func run(t *testing.T, args runbook.Args) (runbook.Result, error, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ops := Operations(Config{})
	if len(ops) != 1 {
		t.Fatalf("%d operations, want 1", len(ops))
	}
	out := &lines{}
	res, err := ops[0].Run(ctx, runbook.Call{Op: "shell.run", Args: args, Step: "s", Phase: runbook.PhaseAction, Attempt: 1}, out)
	return res, err, out.all()
}

func TestSpecOnZeroConfig(t *testing.T) {
	s := Operations(Config{})[0].Spec()
	if s.Name != "shell.run" || s.Destructive {
		t.Fatalf("spec %+v", s)
	}
	var names []string
	for _, a := range s.Args {
		names = append(names, a.Name+":"+a.Kind.String())
	}
	want := "argv:list env:map secret_env:list dir:string timeout:duration interactive:bool host:string"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	if a, _ := s.Arg("argv"); !a.Required {
		t.Fatal("argv must be required")
	}
}

func TestParameterFullOfShellSyntaxIsOneArgument(t *testing.T) {
	value := "x; rm -rf / $(id) `id` \"'\nline two\n\\ * ~ && || > /tmp/x"
	file := filepath.Join(t.TempDir(), "argv")
	// The child writes every argument it got, NUL-terminated, to a file.
	_, err, _ := run(t, runbook.Args{"argv": []string{"sh", "-c", `printf '%s\0' "$@" > "$0"`, file, value, "last"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte(value + "\x00last\x00"); !bytes.Equal(got, want) {
		t.Fatalf("child got %q, want %q", got, want)
	}
}

func TestExitStatusIsReportedWithStderr(t *testing.T) {
	res, err, _ := run(t, runbook.Args{"argv": []string{"sh", "-c", "echo 'CWSIA0241E: cannot connect' >&2; exit 4"}})
	if err == nil || !strings.Contains(err.Error(), "exited with status 4") || !strings.Contains(err.Error(), "CWSIA0241E: cannot connect") {
		t.Fatalf("error = %v", err)
	}
	if res.ExitCode != 4 || res.Vars["exit_code"] != "4" {
		t.Fatalf("exit code %d, vars %v", res.ExitCode, res.Vars)
	}
	if len(res.Evidence) != 1 || res.Evidence[0] != "CWSIA0241E: cannot connect" {
		t.Fatalf("evidence %q", res.Evidence)
	}
}

func TestTimeoutWrapsDeadlineExceeded(t *testing.T) {
	res, err, out := run(t, runbook.Args{"argv": []string{"sleep", "20"}, "timeout": 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "sleep timed out after 100ms") {
		t.Fatalf("error = %v", err)
	}
	if res.ExitCode != -1 || !strings.Contains(res.Summary, "timed out") {
		t.Fatalf("result %+v", res)
	}
	if last := out[len(out)-1]; !strings.Contains(last, "ended by signal interrupt") {
		t.Fatalf("last line %q", last)
	}
}

func TestSuccessResult(t *testing.T) {
	dir := t.TempDir()
	res, err, out := run(t, runbook.Args{
		"argv": []string{"sh", "-c", `pwd; echo "$BUS/$ENGINE"`},
		"dir":  dir,
		"env":  map[string]string{"BUS": "bus1", "ENGINE": "ME 1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Vars["stdout"] != dir+"\nbus1/ME 1" || res.Vars["last_line"] != "bus1/ME 1" {
		t.Fatalf("result %+v", res)
	}
	if !strings.HasPrefix(res.Summary, "sh exited with status 0 after ") || !strings.HasSuffix(res.Summary, "(2 output lines)") {
		t.Fatalf("summary %q", res.Summary)
	}
	want := []string{
		"info: in " + dir + "; env BUS=bus1 ENGINE='ME 1'",
		`info: $ sh -c 'pwd; echo "$BUS/$ENGINE"'   (in ` + dir + ")",
		"stdout: " + dir,
		"stdout: bus1/ME 1",
	}
	if len(out) != 5 || strings.Join(out[:4], "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines\n%s\nwant\n%s\n+ outcome", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
}

func TestSecretEnvNeverShown(t *testing.T) {
	const secret = "Pa55-w0rd"
	args := runbook.Args{
		"argv":       []string{"sh", "-c", `echo "using $WAS_PASSWORD"; echo "rejected $WAS_PASSWORD" >&2; exit 1`},
		"env":        map[string]string{"WAS_PASSWORD": secret, "WAS_USER": "admin"},
		"secret_env": []string{"WAS_PASSWORD"},
	}
	plan, err := Operations(Config{})[0].Plan(runbook.Call{Op: "shell.run", Args: args})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Host != "localhost" || plan.Detail != "env WAS_PASSWORD='***' WAS_USER=admin" {
		t.Fatalf("plan %+v", plan)
	}
	res, err, out := run(t, args)
	if err == nil {
		t.Fatal("want an error")
	}
	all := append(out, err.Error(), res.Summary, res.Vars["stdout"], strings.Join(res.Evidence, "\n"))
	masked := 0
	for _, s := range all {
		if strings.Contains(s, secret) {
			t.Fatalf("secret shown in %q", s)
		}
		masked += strings.Count(s, "***")
	}
	if masked < 4 {
		t.Fatalf("only %d masks in %q", masked, all)
	}
}

func TestPlanQuotesArgv(t *testing.T) {
	plan, err := Operations(Config{})[0].Plan(runbook.Call{Op: "shell.run", Args: runbook.Args{
		"argv":    []string{"/opt/IBM/WebSphere/AppServer/bin/backupConfig.sh", "/backups/cell 1.zip", "-nostop"},
		"timeout": 10 * time.Minute,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.Summary(), "/opt/IBM/WebSphere/AppServer/bin/backupConfig.sh '/backups/cell 1.zip' -nostop  @ localhost"; got != want {
		t.Fatalf("plan %q, want %q", got, want)
	}
	if plan.Detail != "timeout 10m0s" {
		t.Fatalf("detail %q", plan.Detail)
	}
}

func TestBadCallsAreErrors(t *testing.T) {
	op := Operations(Config{})[0]
	for name, args := range map[string]runbook.Args{
		"no argv":          {},
		"empty program":    {"argv": []string{""}},
		"unknown secret":   {"argv": []string{"true"}, "secret_env": []string{"TOKEN"}},
		"bad env name":     {"argv": []string{"true"}, "env": map[string]string{"A=B": "x"}},
		"negative timeout": {"argv": []string{"true"}, "timeout": -time.Second},
	} {
		if _, err := op.Plan(runbook.Call{Args: args}); err == nil {
			t.Errorf("%s: Plan gave no error", name)
		}
		if _, err, _ := run(t, args); err == nil {
			t.Errorf("%s: Run gave no error", name)
		}
	}
	_, err, _ := run(t, runbook.Args{"argv": []string{"true"}, "dir": "/nonexistent/dir"})
	if err == nil || !strings.Contains(err.Error(), "working directory /nonexistent/dir does not exist") {
		t.Fatalf("error = %v", err)
	}
	_, err, _ = run(t, runbook.Args{"argv": []string{"no-such-program-drillbook"}})
	if err == nil || !strings.Contains(err.Error(), "no-such-program-drillbook not found") {
		t.Fatalf("error = %v", err)
	}
}

func TestInteractiveOutputNotCaptured(t *testing.T) {
	res, err, out := run(t, runbook.Args{"argv": []string{"true"}, "interactive": true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "interactive: output not captured") {
		t.Fatalf("summary %q", res.Summary)
	}
	for _, l := range out {
		if strings.HasPrefix(l, "stdout:") || strings.HasPrefix(l, "stderr:") {
			t.Fatalf("captured %q from an interactive command", l)
		}
	}
	if res.Vars != nil {
		t.Fatalf("vars %v from an interactive command", res.Vars)
	}
}

// TestCancelStopsCommand cancels a command that ignores SIGINT once it is
// running: the group is killed after the wait delay.
func TestCancelStopsCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan struct{})
	var once sync.Once
	out := runbook.OutputFunc(func(s runbook.Stream, text string) {
		if s == runbook.Stdout && text == "ready" {
			once.Do(func() { close(ready) })
		}
	})
	op := &Run{WaitDelay: 200 * time.Millisecond}
	go func() {
		_, err := op.Run(ctx, runbook.Call{Args: runbook.Args{"argv": []string{"sh", "-c", "trap '' INT; echo ready; sleep 20"}}}, out)
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the command ended before it was cancelled: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the command never started")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "sh stopped") {
			t.Fatalf("error = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shell.run did not return after cancel")
	}
}

func TestStepTimeoutFromCallWrapsDeadlineExceeded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	res, err := (&Run{}).Run(ctx, runbook.Call{Args: runbook.Args{"argv": []string{"sleep", "20"}}, Timeout: 150 * time.Millisecond}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "sleep timed out after 150ms") {
		t.Fatalf("error = %v", err)
	}
	if res.ExitCode != -1 {
		t.Fatalf("exit code %d", res.ExitCode)
	}
}
