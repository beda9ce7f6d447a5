package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

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
	srv.Kill()
	if _, err := ops["rabbitmq.data-dir"].Run(context.Background(), call, &out); err == nil || !strings.Contains(err.Error(), "mq1") {
		t.Errorf("data-dir with the sshd killed: %v", err)
	}
}
