package was

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// fakeCell is the state file the stand-in wsadmin reads and writes.
type fakeCell struct {
	Cell    string                       `json:"cell"`
	Nodes   []string                     `json:"nodes"`
	Servers map[string]map[string]any    `json:"servers"`
	Engines map[string]map[string]any    `json:"engines"`
	Config  map[string]map[string]string `json:"config"`
	Calls   [][]any                      `json:"calls"`
	Saved   int                          `json:"saved"`
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

type fakeEnv struct {
	t        *testing.T
	cellPath string
	argsLog  string
	ops      map[string]runbook.Operation
}

func newFakeEnv(t *testing.T, mode string) *fakeEnv {
	t.Helper()
	dir := t.TempDir()
	wsadmin, err := filepath.Abs("testdata/fake-wsadmin")
	if err != nil {
		t.Fatal(err)
	}
	cell := fakeCell{
		Cell:  "c1",
		Nodes: []string{"node01", "node02"},
		Servers: map[string]map[string]any{
			"server1": {"node": "node01", "running": true},
			"server2": {"node": "node02", "running": true},
		},
		Engines: map[string]map[string]any{
			"clu1.000-Bus1": {"cluster": "clu1", "instances": map[string]string{"server1": "Started", "server2": "Joined"}},
		},
		Config: map[string]map[string]string{"clu1.000-Bus1": {"name": "clu1.000-Bus1", "busName": "Bus1", "initialState": "STARTED"}},
	}
	b, _ := json.Marshal(cell)
	e := &fakeEnv{t: t, cellPath: filepath.Join(dir, "cell.json"), argsLog: filepath.Join(dir, "args.log")}
	if err := os.WriteFile(e.cellPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CELL", e.cellPath)
	t.Setenv("FAKE_WSADMIN_LOG", e.argsLog)
	t.Setenv("FAKE_WSADMIN_MODE", mode)
	t.Setenv("FAKE_WSADMIN_PASSWORD", "s3cr=t:pw")
	t.Setenv("TEST_WAS_PASSWORD", "s3cr=t:pw")
	cfg := Config{
		Wsadmin: wsadmin, Host: "dmgr01", Port: 8879, User: "wasadmin",
		Password:  runbook.SecretRef{Env: "TEST_WAS_PASSWORD"},
		StateWait: runbook.Duration{Duration: 3 * time.Second},
	}
	e.ops = map[string]runbook.Operation{}
	for _, op := range Operations(cfg) {
		e.ops[op.Spec().Name] = op
	}
	return e
}

func (e *fakeEnv) run(name string, args runbook.Args, timeout time.Duration) (runbook.Result, string, error) {
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := e.ops[name].Run(ctx, runbook.Call{Op: name, Args: args, Attempt: 1}, out)
	return res, out.all(), err
}

func (e *fakeEnv) cell() fakeCell {
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

func TestRealBackendFindsHostAndStartsInFlushMode(t *testing.T) {
	e := newFakeEnv(t, "ok")
	res, out, err := e.run("was.find-engine-host", runbook.Args{"engine": "clu1.000-Bus1"}, 30*time.Second)
	if err != nil {
		t.Fatalf("find-engine-host: %v\n%s", err, out)
	}
	if res.Vars["server"] != "server1" || res.Vars["node"] != "node01" || res.Vars["standby"] != "server2=Joined" {
		t.Errorf("vars = %v", res.Vars)
	}
	if !strings.Contains(out, "WASX7209I") {
		t.Errorf("the banner was not shown:\n%s", out)
	}

	// A FLUSH start of a Started engine is refused: it would not be the
	// first start after the restore.
	_, out, err = e.run("was.start-engine", runbook.Args{"engine": "clu1.000-Bus1", "mode": "FLUSH"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "already Started") {
		t.Fatalf("FLUSH start of a Started engine: err = %v\n%s", err, out)
	}
	res, out, err = e.run("was.start-engine", runbook.Args{"engine": "clu1.000-Bus1", "mode": "FLUSH", "if_started": "restart"}, 30*time.Second)
	if err != nil {
		t.Fatalf("restart in FLUSH mode: %v\n%s", err, out)
	}
	if res.Vars["server"] != "server1" || res.Vars["state"] != "Started" {
		t.Errorf("vars = %v", res.Vars)
	}
	c := e.cell()
	var ops []string
	for _, call := range c.Calls {
		if call[0] != "state" {
			ops = append(ops, call[0].(string)+" "+toString(call[3]))
		}
	}
	if strings.Join(ops, ",") != "stop IMMEDIATE,start FLUSH" {
		t.Errorf("MBean calls = %v, want a stop then a FLUSH start", ops)
	}

	// The password never reached a command line or the output; the -p
	// file carried it.
	argsLog, err := os.ReadFile(e.argsLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(argsLog), "s3cr=t") {
		t.Errorf("password on a command line: %s", argsLog)
	}
	if strings.Contains(out, "s3cr=t") {
		t.Errorf("password in the output:\n%s", out)
	}
	if n := strings.Count(string(argsLog), "\n"); n != 3 {
		t.Errorf("%d wsadmin runs, want 3", n)
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func TestRealBackendSetsInitialStateAndSyncs(t *testing.T) {
	e := newFakeEnv(t, "ok")
	res, out, err := e.run("was.set-initial-state", runbook.Args{"bus": "Bus1", "engine": "clu1.000-Bus1", "state": "STOPPED"}, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Vars["attribute"] != "initialState" || res.Vars["previous"] != "STARTED" {
		t.Errorf("vars = %v", res.Vars)
	}
	c := e.cell()
	if c.Config["clu1.000-Bus1"]["initialState"] != "STOPPED" || c.Saved != 1 {
		t.Errorf("config = %v, saved %d times", c.Config, c.Saved)
	}
	res, out, err = e.run("was.save-sync", runbook.Args{}, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Vars["nodes"] != "node01=true,node02=true" {
		t.Errorf("nodes = %q", res.Vars["nodes"])
	}
}

func TestRealBackendUnknownInitialStateAttributeSaysWhatToSet(t *testing.T) {
	e := newFakeEnv(t, "ok")
	b, err := os.ReadFile(e.cellPath)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["attributes"] = "name String\nstartupMode ENUM(STARTED, STOPPED)\nautoState ENUM(STARTED, STOPPED)"
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cellPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, err := e.run("was.set-initial-state", runbook.Args{"engine": "clu1.000-Bus1", "state": "STOPPED"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "set was.initial_state_attribute") {
		t.Fatalf("err = %v\n%s", err, out)
	}
}

func TestRealBackendFailures(t *testing.T) {
	cases := []struct {
		mode, want string
	}{
		{"wasx-error", "WASX7017E"},
		{"no-marker", "printed no result"},
		{"exit-nonzero", "exited with status 3"},
		{"usage", "printed no result"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			e := newFakeEnv(t, tc.mode)
			_, out, err := e.run("was.engine-state", runbook.Args{"engine": "clu1.000-Bus1"}, 30*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q\n%s", err, tc.want, out)
			}
		})
	}
}

func TestRealBackendScriptErrorIsReported(t *testing.T) {
	e := newFakeEnv(t, "ok")
	_, out, err := e.run("was.engine-state", runbook.Args{"engine": "nosuch-ME", "expect": []string{"Started"}}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "engine nosuch-ME is NotRunning, expected Started") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	_, out, err = e.run("was.start-engine", runbook.Args{"engine": "nosuch-ME", "mode": "FLUSH"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "has no instance in a running server") {
		t.Fatalf("err = %v\n%s", err, out)
	}
}

func TestRealBackendHungWsadminIsStopped(t *testing.T) {
	e := newFakeEnv(t, "hang")
	start := time.Now()
	_, out, err := e.run("was.engine-state", runbook.Args{"engine": "clu1.000-Bus1"}, 1500*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish in time") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("a hung wsadmin held the call for %s", d)
	}
}

func TestRealBackendMissingWsadminSaysWhatToSet(t *testing.T) {
	op, ok := opsByName(Operations(Config{Wsadmin: "/nonexistent/wsadmin.sh"}))["was.engine-state"]
	if !ok {
		t.Fatal("no was.engine-state operation")
	}
	_, err := op.Run(context.Background(), runbook.Call{Args: runbook.Args{"engine": "x"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "wsadmin not found at /nonexistent/wsadmin.sh: set was.wsadmin in targets.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestCredentialsFileIsOwnerOnlyAndEscaped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.properties")
	if err := writeCredentials(path, Config{User: "admin"}, "a=b:c\\d #e"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	want := "com.ibm.SOAP.loginUserid=admin\ncom.ibm.SOAP.loginPassword=a\\=b\\:c\\\\d \\#e\n"
	if string(b) != want {
		t.Errorf("file = %q, want %q", b, want)
	}
}

// A step's timeout wins over the target's default call timeout, even when
// it is longer; the default bounds only a call whose step sets none.
func TestStepTimeoutWinsOverTheTargetsDefault(t *testing.T) {
	step, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	ctx, cancel2 := withTimeout(step, time.Hour)
	defer cancel2()
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < 90*time.Minute {
		t.Errorf("a 2h step was given %v (deadline set %t), want its own 2h", time.Until(dl).Round(time.Minute), ok)
	}
	ctx, cancel3 := withTimeout(context.Background(), time.Hour)
	defer cancel3()
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Hour {
		t.Errorf("a step without timeout got deadline %v (set %t), want the 1h default", time.Until(dl), ok)
	}
}
