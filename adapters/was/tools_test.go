package was

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// A configuration restore as IBM documents it for a Network Deployment
// cell, on the fake estate: backupConfig and restoreConfig in the
// deployment manager's profile, the deployment manager stopped (wsadmin
// then cannot connect) and started again, each node resynchronised with
// stopNode, syncNode and startNode in its own profile, and a recovery
// start in the node's profile.
func TestConfigRestoreRunsEachToolInItsOwnProfile(t *testing.T) {
	e := newFakeEstate(t, "ok")
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	res := e.must("was.backup-config", runbook.Args{"set": set})
	if !strings.Contains(strings.Join(res.Evidence, "\n"), "ADMU5002I") {
		t.Errorf("backup evidence %v", res.Evidence)
	}
	e.must("was.seal-backup", runbook.Args{"set": set, "require": []string{"config"}})

	e.must("was.stop-manager", runbook.Args{"cell": "c1"})
	// wsadmin cannot connect to a stopped deployment manager, and the
	// error says what to do.
	_, out, err := e.run("was.engine-state", runbook.Args{"engine": "clu1.000-Bus1"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "WASX7023E") || !strings.Contains(err.Error(), "start it with was.start-manager") {
		t.Fatalf("engine-state with the deployment manager stopped: %v\n%s", err, out)
	}
	res = e.must("was.restore-config", runbook.Args{"cell": "c1", "set": set})
	if !strings.Contains(res.Summary, "configuration of cell c1 restored from "+filepath.Join(set, "config.zip")) {
		t.Errorf("restore summary %q", res.Summary)
	}
	e.must("was.manager-status", runbook.Args{"expect": "STOPPED"})
	e.must("was.start-manager", runbook.Args{})
	log, _ := os.ReadFile(filepath.Join(e.cfg.ProfileRoot, "logs", "dmgr", "SystemOut.log"))
	if !strings.Contains(string(log), "WSVR0001I: Server dmgr open for e-business") {
		t.Errorf("the deployment manager's log:\n%s", log)
	}
	e.must("was.check-connection", runbook.Args{"cell": "c1"})
	for _, node := range []string{"node01", "node02"} {
		e.must("was.stop-node", runbook.Args{"node": node})
		e.must("was.sync-node", runbook.Args{"node": node})
		e.must("was.start-node", runbook.Args{"node": node})
	}
	// A recovery start of a running server is refused; once it is
	// stopped, it runs in node01's profile and ends with the server down.
	_, out, err = e.run("was.start-server", runbook.Args{"node": "node01", "server": "server1", "recovery": true}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "server server1 on node node01 is running: a recovery start needs it stopped, so nothing was started") {
		t.Fatalf("recovery start of a running server: %v\n%s", err, out)
	}
	e.must("was.stop-server", runbook.Args{"node": "node01", "server": "server1"})
	res = e.must("was.start-server", runbook.Args{"node": "node01", "server": "server1", "recovery": true})
	if res.Vars["state"] != "STOPPED" {
		t.Errorf("recovery start vars %v", res.Vars)
	}

	var tools []string
	for _, l := range e.toolLines() {
		if !strings.HasPrefix(l, "serverStatus") {
			tools = append(tools, l)
		}
	}
	want := []string{
		"backupConfig " + filepath.Join(set, "config.zip") + " -nostop -profileName Dmgr01",
		"stopManager -profileName Dmgr01",
		"restoreConfig " + filepath.Join(set, "config.zip") + " -profileName Dmgr01",
		"startManager -profileName Dmgr01",
		"stopNode -profileName AppSrv01", "syncNode dmgr01 8879 -profileName AppSrv01", "startNode -profileName AppSrv01",
		"stopNode -profileName AppSrv02", "syncNode dmgr01 8879 -profileName AppSrv02", "startNode -profileName AppSrv02",
		"startServer server1 -recovery -profileName AppSrv01",
	}
	if !slices.Equal(tools, want) {
		t.Errorf("tool command lines\n got %q\nwant %q", tools, want)
	}
	// Each tool ran in the profile of the node it acts on.
	for _, tc := range e.cell().ToolCalls {
		wantNode := "dmgrNode"
		if i := slices.Index(tc, "-profileName"); i >= 0 && strings.HasPrefix(tc[i+1], "AppSrv0") {
			wantNode = "node0" + strings.TrimPrefix(tc[i+1], "AppSrv0")
		}
		if tc[1] != wantNode {
			t.Errorf("%v ran in the profile of %s", tc, tc[1])
		}
	}
	if n := e.cell().Restored; n != 1 {
		t.Errorf("restoreConfig restored %d times", n)
	}

	// A changed archive is refused before restoreConfig runs.
	before := len(e.toolLines())
	os.WriteFile(filepath.Join(set, "config.zip"), []byte("PK changed"), 0o644)
	_, _, err = e.run("was.restore-config", runbook.Args{"cell": "c1", "set": set}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "changed since it was taken") {
		t.Errorf("changed archive: %v", err)
	}
	if n := len(e.toolLines()); n != before {
		t.Errorf("restoreConfig ran on a changed archive")
	}
}

// Each destructive operation is bound to its object: a call naming
// another cell, engine, server or node, or an object not in the state the
// step needs, is refused before anything changes.
func TestDestructiveOperationsRefuseAMismatchedObject(t *testing.T) {
	e := newFakeEstate(t, "ok")
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	e.must("was.backup-config", runbook.Args{"set": set})
	e.must("was.backup-datastore", runbook.Args{"engine": "clu1.000-Bus1", "set": set})
	logDir, storeDir := writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v1")
	fsArgs := runbook.Args{"engine": "node02.server2-Bus1", "log_dir": logDir, "store_dir": storeDir, "set": set}
	e.must("was.backup-filestore", fsArgs)
	unsealed := set
	sealedSet := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	e.must("was.backup-config", runbook.Args{"set": sealedSet})
	e.must("was.backup-datastore", runbook.Args{"engine": "clu1.000-Bus1", "set": sealedSet})
	e.must("was.seal-backup", runbook.Args{"set": sealedSet})
	baseline := e.mutations()

	with := func(a runbook.Args, kv ...any) runbook.Args {
		out := runbook.Args{}
		for k, v := range a {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name string
		op   string
		args runbook.Args
		want string
	}{
		{"stop-manager of another cell", "was.stop-manager", runbook.Args{"cell": "c2"}, "this target's cell is c1, not c2: nothing was done"},
		{"restore-config of another cell", "was.restore-config", runbook.Args{"cell": "c2", "set": sealedSet}, "this target's cell is c1, not c2: nothing was restored"},
		{"restore-config from an unsealed set", "was.restore-config", runbook.Args{"cell": "c1", "set": unsealed}, "not sealed"},
		{"stop-engine of an unknown engine", "was.stop-engine", runbook.Args{"engine": "clu9.000-Bus1"}, "no messaging engine clu9.000-Bus1 in the configuration of cell c1"},
		{"stop-server on the wrong node", "was.stop-server", runbook.Args{"node": "node02", "server": "server1"}, "server1"},
		{"restore-datastore of a started engine", "was.restore-datastore", runbook.Args{"engine": "clu1.000-Bus1", "set": sealedSet}, "messaging engine clu1.000-Bus1 is Started in node01/server1: stop it before its store is replaced, so nothing was restored"},
		{"restore-datastore of an engine the set lacks", "was.restore-datastore", runbook.Args{"engine": "node02.server2-Bus1", "set": sealedSet}, "has no data store backup of node02.server2-Bus1"},
		{"restore-datastore from an unsealed set", "was.restore-datastore", runbook.Args{"engine": "clu1.000-Bus1", "set": unsealed}, "not sealed"},
		{"restore-filestore of a started engine", "was.restore-filestore", with(fsArgs, "accept_unsealed", "test"), "messaging engine node02.server2-Bus1 is Started in node02/server2"},
		{"restore-filestore from an unsealed set", "was.restore-filestore", fsArgs, "not sealed"},
		{"restore-filestore of an engine the set lacks", "was.restore-filestore", with(fsArgs, "set", sealedSet), "has no file store of node02.server2-Bus1"},
		{"stop-node of a node without a profile", "was.stop-node", runbook.Args{"node": "node03"}, "node node03 has no profile in this target"},
		{"sync-node with its node agent running", "was.sync-node", runbook.Args{"node": "node01"}, "syncNode needs it stopped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !e.ops[tc.op].Spec().Destructive && tc.op != "was.stop-node" && tc.op != "was.sync-node" {
				t.Errorf("%s is not marked destructive", tc.op)
			}
			_, out, err := e.run(tc.op, tc.args, 30*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q\n%s", err, tc.want, out)
			}
			if got := e.mutations(); !slices.Equal(got, baseline) {
				t.Errorf("a refused call changed the estate: %v", got[len(baseline):])
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(logDir, "Log")); string(b) != "Log v1" {
		t.Errorf("a refused file store restore touched Log: %q", b)
	}
}

// A profile entry that points at another node's or the deployment
// manager's profile is refused: a tool never runs in a profile that is
// not the one of the node it acts on.
func TestToolsRefuseAProfileOfAnotherNode(t *testing.T) {
	e := newFakeEstate(t, "ok")
	swapped := e.cfg
	swapped.Nodes = map[string]NodeProfile{"node01": e.cfg.Nodes["node02"], "node02": e.cfg.Nodes["node01"]}
	swapped.ProfileRoot = e.cfg.Nodes["node01"].ProfileRoot
	ops := opsByName(Operations(swapped))
	e.ops = ops
	for _, tc := range []struct {
		op   string
		args runbook.Args
		want string
	}{
		{"was.stop-node", runbook.Args{"node": "node01"}, "belongs to node node02, not node01"},
		{"was.stop-manager", runbook.Args{"cell": "c1"}, "is not a deployment manager profile"},
		{"was.check-profile", runbook.Args{"node": "node02", "tools": []string{"startServer"}}, "belongs to node node01, not node02"},
		{"was.check-profile", runbook.Args{"tools": []string{"restoreConfig"}}, "is not the deployment manager's profile"},
	} {
		_, out, err := e.run(tc.op, tc.args, 30*time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want %q\n%s", tc.op, tc.args, err, tc.want, out)
		}
	}
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("refused calls changed the estate: %v", m)
	}
	// The right profiles are named in the check's summary.
	e.ops = opsByName(Operations(e.cfg))
	res := e.must("was.check-profile", runbook.Args{"node": "node02", "tools": []string{"startServer", "syncNode"}})
	if !strings.Contains(res.Summary, "AppSrv02") || !strings.Contains(res.Summary, "(cell c1, node node02)") {
		t.Errorf("check-profile summary %q", res.Summary)
	}
}

// "Start the servers" says so when nothing was started: a running server
// fails the step by default and is a warning with if_running: ok.
func TestStartServerSaysWhenNothingWasStarted(t *testing.T) {
	e := newFakeEstate(t, "ok")
	res, _, err := e.run("was.start-server", runbook.Args{"node": "node01", "server": "server1"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "server node01/server1 was already running, so this step started nothing") {
		t.Fatalf("err = %v", err)
	}
	if res.Summary != "server node01/server1 was already running: nothing was started (STARTED -> STARTED)" || res.Vars["started"] != "false" {
		t.Errorf("result %+v", res)
	}
	res = e.must("was.start-server", runbook.Args{"node": "node01", "server": "server1", "if_running": "ok"})
	if len(res.Warnings) != 1 || res.Warnings[0] != "server node01/server1 was not restarted: it was running" {
		t.Errorf("warnings %v", res.Warnings)
	}
	e.must("was.stop-server", runbook.Args{"node": "node01", "server": "server1"})
	res = e.must("was.start-server", runbook.Args{"node": "node01", "server": "server1"})
	if res.Summary != "server node01/server1: STOPPED -> STARTED" || res.Vars["started"] != "true" {
		t.Errorf("start after stop: %+v", res)
	}
}
