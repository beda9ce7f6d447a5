package host

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestMain lets the test binary serve as the agent on the far side of a
// test sshd: `host.test agent` runs Serve as `drillbook agent` does, so the
// tests need no separate build of drillbook.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
		err := Serve(ctx, os.Stdin, os.Stdout, AgentOptions{Version: "test"})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "drillbook agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testAgent is the path of this test binary, which serves as the agent.
func testAgent(t testing.TB) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// remoteSet starts a private sshd and returns a Set whose host "far" is
// reached through it.
func remoteSet(t testing.TB) (*Set, *sshdtest.Server) {
	t.Helper()
	srv := sshdtest.Start(t)
	tg := &runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"far": srv.Host("far", testAgent(t))}}
	s := NewSet(tg, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { s.Close() })
	return s, srv
}
