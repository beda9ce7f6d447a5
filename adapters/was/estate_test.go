package was

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// The tests of the real backend run against a fake Network Deployment
// estate on disk: a deployment manager's profile (Dmgr01, node dmgrNode)
// and two managed nodes' profiles (AppSrv01 for node01, AppSrv02 for
// node02), each with bin/setupCmdLine.sh and its configuration tree, and
// the profile tools installed from testdata/fake-tool. wsadmin is
// testdata/fake-wsadmin. Both act on one JSON cell, $FAKE_CELL.

// The planted secrets: the administrative password holds '=' and ':', so
// its properties-file form (s3cr\=t\:pw) differs from it.
const (
	plantedPassword   = "s3cr=t:pw"
	plantedEscaped    = `s3cr\=t\:pw`
	plantedDBPassword = "db-pl4nted-pw"
)

// fakeCell is the state file the stand-ins read and write.
type fakeCell struct {
	Cell       string                       `json:"cell"`
	Nodes      []string                     `json:"nodes"`
	Servers    map[string]map[string]any    `json:"servers"`
	Engines    map[string]map[string]any    `json:"engines"`
	Config     map[string]map[string]string `json:"config"`
	Dmgr       map[string]any               `json:"dmgr"`
	NodeAgents map[string]bool              `json:"nodeagents"`
	SyncFail   []string                     `json:"sync_fail,omitempty"`
	Calls      [][]any                      `json:"calls"`
	ToolCalls  [][]string                   `json:"tool_calls,omitempty"`
	Saved      int                          `json:"saved"`
	Restored   int                          `json:"restored"`
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (o *lines) Line(s runbook.Stream, text string) {
	o.mu.Lock()
	o.l = append(o.l, string(s)+": "+text)
	o.mu.Unlock()
}

func (o *lines) all() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.l, "\n")
}

type fakeEstate struct {
	t          *testing.T
	dir        string
	cellPath   string
	wsadminLog string
	toolLog    string
	envLog     string
	dsLog      string
	fileStores string
	cfg        Config
	ops        map[string]runbook.Operation
}

// profile makes one profile: bin/ with setupCmdLine.sh and the tools, and
// config/cells/c1/nodes/NODE/servers/SERVER for each server.
func (e *fakeEstate) profile(name, node string, servers ...string) string {
	e.t.Helper()
	root := filepath.Join(e.dir, "profiles", name)
	bin := filepath.Join(root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "setupCmdLine.sh"), []byte("WAS_CELL=c1\nWAS_NODE="+node+"\n"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	tool, err := os.ReadFile("testdata/fake-tool")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, t := range []string{"backupConfig", "restoreConfig", "startManager", "stopManager", "startNode", "stopNode", "syncNode", "serverStatus", "startServer"} {
		if err := os.WriteFile(filepath.Join(bin, t+".sh"), tool, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, s := range servers {
		if err := os.MkdirAll(filepath.Join(root, "config", "cells", "c1", "nodes", node, "servers", s), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	return root
}

func newFakeEstate(t *testing.T, mode string) *fakeEstate {
	t.Helper()
	dir := t.TempDir()
	wsadmin, err := filepath.Abs("testdata/fake-wsadmin")
	if err != nil {
		t.Fatal(err)
	}
	e := &fakeEstate{t: t, dir: dir, cellPath: filepath.Join(dir, "cell.json"), wsadminLog: filepath.Join(dir, "wsadmin-args.log"),
		toolLog: filepath.Join(dir, "tool-args.log"), envLog: filepath.Join(dir, "env.log"), dsLog: filepath.Join(dir, "datastore.log"),
		fileStores: filepath.Join(dir, "filestores")}
	dmgr := e.profile("Dmgr01", "dmgrNode", "dmgr")
	app1 := e.profile("AppSrv01", "node01", "nodeagent", "server1")
	app2 := e.profile("AppSrv02", "node02", "nodeagent", "server2")
	e.writeCell(fakeCell{
		Cell:  "c1",
		Nodes: []string{"node01", "node02"},
		Servers: map[string]map[string]any{
			"server1": {"node": "node01", "running": true},
			"server2": {"node": "node02", "running": true},
		},
		Engines: map[string]map[string]any{
			"clu1.000-Bus1":       {"cluster": "clu1", "instances": map[string]string{"server1": "Started", "server2": "Joined"}},
			"node02.server2-Bus1": {"instances": map[string]string{"server2": "Started"}},
		},
		Config: map[string]map[string]string{
			"clu1.000-Bus1":       {"name": "clu1.000-Bus1", "busName": "Bus1", "initialState": "STARTED"},
			"node02.server2-Bus1": {"name": "node02.server2-Bus1", "busName": "Bus1", "initialState": "STARTED"},
		},
		Dmgr:       map[string]any{"running": true, "node": "dmgrNode"},
		NodeAgents: map[string]bool{"node01": true, "node02": true},
	})
	pwFile := filepath.Join(dir, "expected-password")
	if err := os.WriteFile(pwFile, []byte(plantedPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CELL", e.cellPath)
	t.Setenv("FAKE_WSADMIN_LOG", e.wsadminLog)
	t.Setenv("FAKE_WSADMIN_MODE", mode)
	t.Setenv("FAKE_WSADMIN_PASSWORD_FILE", pwFile)
	t.Setenv("TOOL_LOG", e.toolLog)
	t.Setenv("FAKE_ENV_LOG", e.envLog)
	t.Setenv("TEST_WAS_PASSWORD", plantedPassword)
	t.Setenv("TEST_DB_PASSWORD", plantedDBPassword)
	root := filepath.Join(dir, "backups")
	os.MkdirAll(root, 0o755)
	// The data store commands stand in for a database's tools: the
	// backup writes the engine and the password it was given into the
	// set, the restore checks them; both log their environment.
	dsLog := `env | sed 's/^/` + "$1" + `: /' >> "$DSLOG"`
	e.cfg = Config{
		Cell: "c1", Wsadmin: wsadmin, ProfileRoot: dmgr, ProfileName: "Dmgr01",
		Nodes: map[string]NodeProfile{
			"node01": {ProfileRoot: app1, ProfileName: "AppSrv01"},
			"node02": {ProfileRoot: app2, ProfileName: "AppSrv02"},
		},
		Host: "dmgr01", Port: 8879, User: "wasadmin",
		Password:     runbook.SecretRef{Env: "TEST_WAS_PASSWORD"},
		StateWait:    runbook.Duration{Duration: 3 * time.Second},
		RecoveryPoll: runbook.Duration{Duration: 10 * time.Millisecond},
		BackupRoot:   root,
		DataStore: DataStoreConfig{
			Backup:    []string{"sh", "-c", dsLog + `; mkdir -p "$3" && printf '%s|%s' "$2" "$DBPW" > "$3/dump"`, "sh", "backup", "{{ .engine }}", "{{ .dir }}"},
			Restore:   []string{"sh", "-c", dsLog + `; test "$(cat "$3/dump")" = "$2|$DBPW" && echo "restored $2"`, "sh", "restore", "{{ .engine }}", "{{ .dir }}"},
			Env:       map[string]string{"DSLOG": e.dsLog},
			SecretEnv: map[string]runbook.SecretRef{"DBPW": {Env: "TEST_DB_PASSWORD"}},
		},
	}
	e.ops = opsByName(Operations(e.cfg))
	return e
}

func opsByName(ops []runbook.Operation) map[string]runbook.Operation {
	m := map[string]runbook.Operation{}
	for _, op := range ops {
		m[op.Spec().Name] = op
	}
	return m
}

func (e *fakeEstate) run(name string, args runbook.Args, timeout time.Duration) (runbook.Result, string, error) {
	e.t.Helper()
	op, ok := e.ops[name]
	if !ok {
		e.t.Fatalf("no operation %s", name)
	}
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := op.Run(ctx, runbook.Call{Op: name, Args: args, Attempt: 1}, out)
	return res, out.all(), err
}

// must runs an operation that has to succeed.
func (e *fakeEstate) must(name string, args runbook.Args) runbook.Result {
	e.t.Helper()
	res, out, err := e.run(name, args, 60*time.Second)
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return res
}

func (e *fakeEstate) cell() fakeCell {
	e.t.Helper()
	var c fakeCell
	b, err := os.ReadFile(e.cellPath)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *fakeEstate) writeCell(c fakeCell) {
	e.t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.cellPath, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// update changes the cell's state file.
func (e *fakeEstate) update(f func(c *fakeCell)) {
	e.t.Helper()
	c := e.cell()
	f(&c)
	e.writeCell(c)
}

// mutations counts the calls that changed something: wsadmin MBean calls
// other than state queries, configuration saves, restores, and tool runs
// other than serverStatus.
func (e *fakeEstate) mutations() []string {
	e.t.Helper()
	c := e.cell()
	var out []string
	for _, call := range c.Calls {
		if op, _ := call[0].(string); op != "state" {
			out = append(out, "wsadmin "+op)
		}
	}
	for _, tc := range c.ToolCalls {
		if tc[0] != "serverStatus" {
			out = append(out, strings.Join(tc, " "))
		}
	}
	if c.Saved > 0 {
		out = append(out, "AdminConfig.save")
	}
	return out
}

// toolLines returns the tool command lines run so far.
func (e *fakeEstate) toolLines() []string {
	b, _ := os.ReadFile(e.toolLog)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// envRecord is one process's environment, as a stand-in recorded it.
type envRecord struct {
	Prog string            `json:"prog"`
	Env  map[string]string `json:"env"`
}

func (e *fakeEstate) envRecords() []envRecord {
	e.t.Helper()
	f, err := os.Open(e.envLog)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []envRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r envRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// writeFileStore makes an engine's file store under the estate's file
// store root, its three files holding tag.
func writeFileStore(t *testing.T, root, engine, tag string) (string, string) {
	t.Helper()
	logDir, storeDir := filepath.Join(root, engine, "log"), filepath.Join(root, engine, "store")
	for name, dir := range map[string]string{"Log": logDir, "PermanentStore": storeDir, "TemporaryStore": storeDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+" "+tag), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return logDir, storeDir
}
