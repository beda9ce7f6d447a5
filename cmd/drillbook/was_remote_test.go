package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
)

// remoteCellTargets writes a targets.yaml whose simulated target cell is
// the training cell with its deployment manager and each node on its own
// host, every one of them reached through the one sshd srv (the same user
// and this machine's file system: the hosts differ by name, as an estate's
// do, and each goes through its own ssh connection and drillbook agent).
func remoteCellTargets(t *testing.T, srv *sshdtest.Server) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var hosts strings.Builder
	for _, h := range []string{"dmgr", "n1", "n2", "n3"} {
		fmt.Fprintf(&hosts, "      %s: {address: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, agent: %s}\n",
			h, srv.Port, srv.User, srv.ClientKey, srv.KnownHosts, self)
	}
	body := `targets:
  cell:
    description: the training cell over four hosts behind a real sshd
    simulated: true
    hosts:
` + hosts.String() + `    was:
      training: true
      dmgr_host: dmgr
      nodes:
        node01: {host: n1}
        node02: {host: n2}
        node03: {host: n3}
`
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemoteCellRestoreME is issue 14's proof for WebSphere: one sshd
// serves every host of a training cell whose profiles sit on four hosts.
// plan shows each server log's host; was-sib-restore-me runs end to end
// with server1's SystemOut.log rolling over right after CWSIP0783, the
// line proven by the watch armed on node01's host.
func TestRemoteCellRestoreME(t *testing.T) {
	srv := sshdtest.Start(t)
	targets := remoteCellTargets(t, srv)
	t.Setenv("DRILLBOOK_WAS_DELAY_SCALE", "0")

	t.Run("plan", func(t *testing.T) {
		out, code := runDrillbook(t, t.TempDir(), "plan", "was-sib-restore-me", "--targets", targets, "--target", "cell")
		if code != 0 {
			t.Fatalf("plan exited %d:\n%s", code, out)
		}
		for _, h := range []string{"n1", "n2", "n3"} {
			want := fmt.Sprintf("SystemOut.log  @ %s (%s@127.0.0.1:%d)", h, srv.User, srv.Port)
			if !strings.Contains(out, want) {
				t.Errorf("plan lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(srv.Log(), "Accepted publickey") {
			t.Errorf("plan logged in to a host:\n%s", srv.Log())
		}
	})

	t.Run("rotation-during-flush", func(t *testing.T) {
		state := t.TempDir()
		out, code := runDrillbook(t, state, "run", "was-sib-restore-me", "--targets", targets, "--target", "cell", "--plain", "--yes", "--scenario", "rotation-during-flush")
		if code != 0 {
			t.Fatalf("run exited %d:\n%s", code, out)
		}
		for _, want := range []string{"CWSIP0783I: Messaging engine: clu1.000-Bus1", "run: succeeded"} {
			if !strings.Contains(out, want) {
				t.Errorf("run output lacks %q:\n%s", want, out)
			}
		}
		rotated, _ := filepath.Glob(filepath.Join(state, "training", "was-cell", "cell", "profiles", "*", "logs", "server1", "SystemOut_*.log"))
		if len(rotated) == 0 {
			t.Errorf("server1's SystemOut.log never rolled over")
		}
		if n := strings.Count(srv.Log(), "Accepted publickey"); n < 3 {
			t.Errorf("%d logins through sshd, want one per node host at least:\n%s", n, srv.Log())
		}
		t.Logf("run output:\n%s", out)
	})
}
