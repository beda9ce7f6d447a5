package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestMain lets this test binary serve as `drillbook agent` on the far
// side of the test sshd.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
		err := host.Serve(ctx, os.Stdin, os.Stdout, host.AgentOptions{Version: "test"})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "drillbook agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunOnARemoteHost(t *testing.T) {
	srv := sshdtest.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hosts := host.NewSet(&runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"node01": srv.Host("node01", self)}}, host.SSHOptions{UserConfig: "none", SystemConfig: "none"})
	defer hosts.Close()
	op := Operations(Config{Hosts: hosts})[0]
	call := func(args runbook.Args) (runbook.Result, error, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out := &lines{}
		res, err := op.Run(ctx, runbook.Call{Op: "shell.run", Args: args, Step: "s", Phase: runbook.PhaseAction, Attempt: 1}, out)
		return res, err, strings.Join(out.all(), "\n")
	}

	value := "x; rm -rf / $(id) `id` \"'\nline two"
	file := filepath.Join(t.TempDir(), "argv")
	args := runbook.Args{"host": "node01", "argv": []string{"sh", "-c", `printf '%s\0' "$@" > "$0"; echo "pw=$PW"`, file, value},
		"env": map[string]string{"PW": "hunter2-secret"}, "secret_env": []string{"PW"}, "dir": "/"}
	p, err := op.Plan(runbook.Call{Op: "shell.run", Args: args})
	if err != nil || !strings.HasSuffix(p.Summary(), fmt.Sprintf("  @ node01 (%s@127.0.0.1:%d)", srv.User, srv.Port)) {
		t.Fatalf("plan %q %v: want the host", p.Summary(), err)
	}
	res, err, out := call(args)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, _ := os.ReadFile(file)
	if want := value + "\x00"; !bytes.Equal(got, []byte(want)) {
		t.Fatalf("the remote command got %q, want %q", got, want)
	}
	if res.Vars["stdout"] != "pw=***" || strings.Contains(out, "hunter2-secret") || !strings.Contains(out, "info: on host node01 (") {
		t.Fatalf("result %+v\noutput:\n%s", res, out)
	}

	_, err, _ = call(runbook.Args{"host": "node01", "argv": []string{"true"}, "dir": "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "working directory /nonexistent does not exist on host node01") {
		t.Fatalf("missing dir on the host: %v", err)
	}
	start := time.Now()
	res, err, _ = call(runbook.Args{"host": "node01", "argv": []string{"sleep", "300"}, "timeout": time.Second})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(res.Summary, "timed out after 1s") || time.Since(start) > 30*time.Second {
		t.Fatalf("a hung remote command: %+v %v after %s", res, err, time.Since(start))
	}
	if _, err, _ := call(runbook.Args{"host": "node02", "argv": []string{"true"}}); err == nil || !strings.Contains(err.Error(), `no host "node02"`) {
		t.Fatalf("unknown host: %v", err)
	}
	if _, err, _ := call(runbook.Args{"host": "node01", "argv": []string{"vi"}, "interactive": true}); err == nil || !strings.Contains(err.Error(), "cannot be interactive on host node01") {
		t.Fatalf("interactive on a remote host: %v", err)
	}
}
