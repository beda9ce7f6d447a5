package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestMain lets the test binary serve as the agent on the far side of the
// test sshd, as `drillbook agent` does.
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

// checkRemoteBackup takes a backup of the private node's msg_stores on
// mq1 (the node's host through the sshd), into a backup root of its own:
// the set is created, its msg_stores copied and hashed there by the agent,
// sealed, listed and found whole; the files on disk match the manifest the
// far side wrote; and a consumers command missing on mq1 is named so.
func checkRemoteBackup(t *testing.T, cfg Config, ops map[string]runbook.Operation) {
	run := func(op string, args runbook.Args) runbook.Result {
		t.Helper()
		var out lines
		res, err := ops[op].Run(context.Background(), runbook.Call{Op: op, Args: args, Step: "remote", Attempt: 1}, &out)
		if err != nil {
			t.Fatalf("%s on mq1: %v\n%s", op, err, strings.Join(out.all, "\n"))
		}
		return res
	}
	set := run("rabbitmq.new-backup-set", nil).Vars["dir"]
	if filepath.Dir(set) != cfg.BackupDir {
		t.Fatalf("set %s is not under %s", set, cfg.BackupDir)
	}
	defs := filepath.Join(set, DefinitionsFile)
	run("rabbitmq.export-definitions", runbook.Args{"file": defs})
	res := run("rabbitmq.backup-messages", runbook.Args{"dir": set, "definitions": defs})
	if res.Vars["messages"] == "" || res.Vars["files"] == "0" {
		t.Fatalf("backup on mq1: %s %v", res.Summary, res.Vars)
	}
	m, err := file.ReadManifest(filepath.Join(set, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := file.Verify(context.Background(), filepath.Join(set, "msg_stores"), m); err != nil || !rep.OK() || strconv.Itoa(m.Files) != res.Vars["files"] {
		t.Fatalf("the copy on mq1 against the manifest written there: %v %v (%d files, result %s)", rep, err, m.Files, res.Vars["files"])
	}
	run("rabbitmq.verify-backup", runbook.Args{"dir": set})
	run("rabbitmq.seal-backup", runbook.Args{"dir": set})
	found := run("rabbitmq.find-backup", nil)
	if found.Vars["dir"] != set || !strings.Contains(found.Summary, "sealed") {
		t.Fatalf("find-backup on mq1: %s %v", found.Summary, found.Vars)
	}
	bad := cfg
	bad.Consumers = Commands{Stop: []string{"true"}, Start: []string{"no-such-program-xyz"}}
	bad.Producers = Commands{Stop: []string{"/bin/true"}, Start: []string{"true"}}
	if _, err := checkCommands(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "rabbitmq.consumers.start: no-such-program-xyz is not found on mq1") || strings.Contains(err.Error(), "consumers.stop") {
		t.Fatalf("check-commands on mq1: %v", err)
	}
}

// checkRemoteCLI runs rabbitmqctl against the private node through a real
// sshd on loopback (rabbitmq.host names a host reached over SSH): the plan
// names the host, the call finds the node's data directory as the local
// call does (so rabbitmq.env's HOME and ERL_EPMD_PORT reached the CLI,
// through the agent's channel), and with the sshd killed the error names
// the host.
func checkRemoteCLI(t *testing.T, cfg Config, local string) {
	srv := sshdtest.Start(t)
	agent, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tg := &runbook.Target{Name: "t", Hosts: map[string]*runbook.HostConfig{"mq1": srv.Host("mq1", agent)}}
	hosts := host.NewSet(tg, host.SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { hosts.Close() })
	cfg.Host, cfg.Hosts = "mq1", hosts
	cfg.BackupDir = t.TempDir()
	ops := byName(Operations(cfg))
	call := runbook.Call{Op: "rabbitmq.data-dir", Args: runbook.Args{}, Step: "remote", Attempt: 1}
	p, err := ops["rabbitmq.data-dir"].Plan(call)
	if err != nil || !strings.Contains(p.Host, " on mq1 (") {
		t.Errorf("plan host %q, %v", p.Host, err)
	}
	var out lines
	res, err := ops["rabbitmq.data-dir"].Run(context.Background(), call, &out)
	if err != nil {
		t.Fatalf("data-dir on mq1: %v\n%s", err, strings.Join(out.all, "\n"))
	}
	if res.Vars["data_dir"] != local {
		t.Errorf("data-dir on mq1 = %q, here %q", res.Vars["data_dir"], local)
	}
	checkRemoteBackup(t, cfg, ops)
	srv.Kill()
	if _, err := ops["rabbitmq.data-dir"].Run(context.Background(), call, &out); err == nil || !strings.Contains(err.Error(), "mq1") {
		t.Errorf("data-dir with the sshd killed: %v", err)
	}
}
