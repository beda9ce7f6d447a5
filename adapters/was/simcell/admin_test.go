package simcell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/logwatch"
)

func logOf(t *testing.T, c *Cell, server string) string {
	t.Helper()
	b, err := os.ReadFile(c.LogPath(server))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// IBM: restoreConfig stops every server on the node before it restores,
// unless -nostop. In the deployment manager's profile that is the
// deployment manager, and wsadmin cannot connect until startManager.
func TestRestoreConfigInDmgrProfileStopsTheDeploymentManager(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	archive := filepath.Join(t.TempDir(), "config.zip")
	quiet := func(string) {}
	if err := c.BackupConfig(ctx, archive, true, "", quiet); err != nil {
		t.Fatal(err)
	}
	if cell, err := ArchiveCell(archive); err != nil || cell != "TrainingCell01" {
		t.Fatalf("archive cell %q, %v", cell, err)
	}
	var out []string
	if err := c.RestoreConfig(ctx, archive, false, "Dmgr01", func(l string) { out = append(out, l) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(out, "\n"), "ADMU2010I: Stopping all server processes for node dmgrNode01") {
		t.Errorf("restoreConfig output:\n%s", strings.Join(out, "\n"))
	}
	if !strings.Contains(logOf(t, c, DmgrServer), "ServerCollabo A   WSVR0024I: Server dmgr stopped") {
		t.Errorf("the deployment manager's log does not show it stopping:\n%s", logOf(t, c, DmgrServer))
	}
	_, err := c.Instances(ctx, "clu1.000-Bus1")
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Lines()[0], `WASX7023E: Error creating "SOAP" connection to host "dmgrhost"`) {
		t.Fatalf("wsadmin with the deployment manager down: %v", err)
	}
	s, _ := c.Load()
	if !s.Servers["server1"].Running || !s.NodeAgents["node01"] {
		t.Error("restoreConfig in the deployment manager's profile stopped a node's processes")
	}
	before := len(logOf(t, c, DmgrServer))
	r, err := c.StartManager(ctx, "Dmgr01")
	if err != nil {
		t.Fatalf("startManager: %v\n%v", err, r.Lines)
	}
	if !strings.Contains(logOf(t, c, DmgrServer)[before:], "WSVR0001I: Server dmgr open for e-business") {
		t.Error("no WSVR0001I after startManager")
	}
	if _, err := c.Instances(ctx, "clu1.000-Bus1"); err != nil {
		t.Fatalf("wsadmin after startManager: %v", err)
	}
	if s, _ := c.Load(); s.Refused != 1 {
		t.Errorf("%d refused wsadmin sessions, want 1", s.Refused)
	}
}

func TestRestoreConfigNostopLeavesTheDeploymentManagerRunning(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	archive := filepath.Join(t.TempDir(), "config.zip")
	if err := c.BackupConfig(ctx, archive, true, "", func(string) {}); err != nil {
		t.Fatal(err)
	}
	if err := c.RestoreConfig(ctx, archive, true, "", func(string) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Instances(ctx, "clu1.000-Bus1"); err != nil {
		t.Fatalf("wsadmin after restoreConfig -nostop: %v", err)
	}
}

func TestToolsRefuseTheWrongProfile(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	if _, err := c.StartManager(ctx, "AppSrv01"); err == nil || !strings.Contains(err.Error(), "belongs in Dmgr01") {
		t.Errorf("startManager in AppSrv01: %v", err)
	}
	if err := c.RecoveryStart(ctx, "node02", "server2", "Dmgr01"); err == nil || !strings.Contains(err.Error(), "belongs in AppSrv02") {
		t.Errorf("startServer -recovery of server2 in Dmgr01: %v", err)
	}
	if err := c.RecoveryStart(ctx, "node02", "server2", "AppSrv02"); err == nil || !strings.Contains(err.Error(), "is running") {
		t.Errorf("startServer -recovery of a running server: %v", err)
	}
	if _, err := c.SyncNode(ctx, "node02", "AppSrv02"); err == nil || !strings.Contains(err.Error(), "needs it stopped") {
		t.Errorf("syncNode with the node agent running: %v", err)
	}
}

// nodeagent-sync-fails: after the restore node02 does not synchronise
// until it is synchronised offline, as IBM's syncNode page describes.
func TestNodeSyncFailsUntilSyncNode(t *testing.T) {
	c := newCell(t, ScenarioNodeSyncFails)
	ctx := context.Background()
	archive := filepath.Join(t.TempDir(), "config.zip")
	if err := c.BackupConfig(ctx, archive, true, "", func(string) {}); err != nil {
		t.Fatal(err)
	}
	if err := c.RestoreConfig(ctx, archive, false, "", func(string) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartManager(ctx, ""); err != nil {
		t.Fatal(err)
	}
	nodes, failed, err := c.SaveSync(ctx)
	if err != nil || strings.Join(failed, ",") != "node02" || strings.Join(nodes, ",") != "node01=true,node02=false,node03=true" {
		t.Fatalf("sync: %v %v %v", nodes, failed, err)
	}
	for _, step := range []func() (ToolResult, error){
		func() (ToolResult, error) { return c.StopNode(ctx, "node02", "AppSrv02") },
		func() (ToolResult, error) { return c.SyncNode(ctx, "node02", "AppSrv02") },
		func() (ToolResult, error) { return c.StartNode(ctx, "node02", "AppSrv02") },
	} {
		if r, err := step(); err != nil {
			t.Fatalf("%v\n%s", err, strings.Join(r.Lines, "\n"))
		}
	}
	if _, failed, err := c.SaveSync(ctx); err != nil || len(failed) != 0 {
		t.Fatalf("sync after syncNode: %v %v", failed, err)
	}
	b, _ := os.ReadFile(filepath.Join(c.LogDir("nodeagent@node02"), "SystemOut.log"))
	if !strings.Contains(string(b), "ADMS0005E") {
		t.Errorf("node02's agent did not log its failed synchronisation:\n%s", b)
	}
}

func TestDmgrStartFailsOnceThenStarts(t *testing.T) {
	c := newCell(t, ScenarioDmgrStartFails)
	ctx := context.Background()
	if _, err := c.StopManager(ctx, ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.StartManager(ctx, "")
	if err == nil || r.Exit == 0 || !strings.Contains(strings.Join(r.Lines, "\n"), "ADMU3011E") {
		t.Fatalf("first start: %v, exit %d\n%s", err, r.Exit, strings.Join(r.Lines, "\n"))
	}
	if !strings.Contains(logOf(t, c, DmgrServer), "WSVR0009E: Error occurred during startup") {
		t.Error("no WSVR0009E in the deployment manager's log")
	}
	if _, err := c.StartManager(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

// In the hpel scenario the cluster members write no SystemOut.log; their
// records are read through the profile's logViewer.sh, in basic format,
// from the -startDate on, and a monitor prints records as they come.
func TestHPELServersAreReadThroughLogViewer(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	c := newCell(t, ScenarioHPEL)
	ctx := context.Background()
	if _, err := os.Stat(c.LogPath("server1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("server1 has a SystemOut.log in the hpel scenario: %v", err)
	}
	viewer := filepath.Join(c.ProfileDir("node01"), "bin", "logViewer.sh")
	out, err := exec.Command(viewer, "-repositoryDir", c.HPELDir("server1"), "-format", "basic", "-startDate", "1/1/20 0:0:0:000 GMT").CombinedOutput()
	if err != nil {
		t.Fatalf("logViewer: %v\n%s", err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := logwatch.ParseLine(l); ok && r.MsgID != "" {
			n++
		}
	}
	if n < 5 || !strings.Contains(string(out), "WSVR0001I: Server server1 open for e-business") || !strings.HasSuffix(string(out), "Operation Complete\n") {
		t.Errorf("%d records from the repository:\n%s", n, out)
	}
	if out, err := exec.Command(viewer, "-repositoryDir", c.HPELDir("server1"), "-bogus").CombinedOutput(); err == nil || !strings.Contains(string(out), "CWTRA0023E: Unknown Argument: -bogus") {
		t.Errorf("unknown option: %v\n%s", err, out)
	}

	start := time.Now().UTC()
	cmd := exec.Command(viewer, "-repositoryDir", c.HPELDir("server1"), "-format", "basic", "-monitor", "1",
		"-startDate", fmt.Sprintf("%s:%03d GMT", start.Format("1/2/06 15:4:5"), start.Nanosecond()/1e6))
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if _, err := c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("logViewer -monitor ended")
			}
			if strings.Contains(l, "WSVR0001I") {
				t.Fatalf("the monitor printed a record from before -startDate: %s", l)
			}
			if strings.Contains(l, "CWSID0016I: Messaging engine clu1.000-Bus1 is in state Stopped.") || strings.Contains(l, "is in state Joined.") {
				return
			}
		case <-deadline:
			t.Fatal("the monitor did not print the engine's stop within 30s")
		}
	}
}
