package was

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/drillbook/drillbook/adapters/host"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

func TestRealBackendFindsHostAndStartsInFlushMode(t *testing.T) {
	e := newFakeEstate(t, "ok")
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
	e.must("was.stop-engine", runbook.Args{"engine": "clu1.000-Bus1"})
	res, out, err = e.run("was.start-engine", runbook.Args{"engine": "clu1.000-Bus1", "mode": "FLUSH", "server": "server1"}, 30*time.Second)
	if err != nil {
		t.Fatalf("FLUSH start after the stop: %v\n%s", err, out)
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
	argsLog, err := os.ReadFile(e.wsadminLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(argsLog), "s3cr=t") {
		t.Errorf("password on a command line: %s", argsLog)
	}
	if strings.Contains(out, "s3cr=t") {
		t.Errorf("password in the output:\n%s", out)
	}
	// One wsadmin start for find-engine-host, the refused start, the stop
	// (its check that the engine is configured, then the stop), the start.
	if n, m := strings.Count(string(argsLog), `"-lang"`), strings.Count(string(argsLog), `"request"`); n != 1 || m != 5 {
		t.Errorf("%d wsadmin starts for %d requests, want 1 for 5:\n%s", n, m, argsLog)
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func TestRealBackendSetsInitialStateAndSyncs(t *testing.T) {
	e := newFakeEstate(t, "ok")
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
	e := newFakeEstate(t, "ok")
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
		own        bool // a wsadmin of its own per call (was.no_session)
	}{
		{"wasx-error", "WASX7017E", false},
		{"no-marker", "wsadmin ended before its session was ready", false},
		{"usage", "exited with status 105; last output: WASX7001I", false},
		{"wasx-error", "WASX7017E", true},
		{"no-marker", "printed no result", true},
		{"exit-nonzero", "exited with status 3", true},
		{"usage", "printed no result", true},
	}
	for _, tc := range cases {
		name := tc.mode
		if tc.own {
			name += "/own-process"
		}
		t.Run(name, func(t *testing.T) {
			e := newFakeEstate(t, tc.mode)
			if tc.own {
				e.cfg.NoSession = true
				e.ops = opsByName(Operations(e.cfg))
			}
			_, out, err := e.run("was.engine-state", runbook.Args{"engine": "clu1.000-Bus1"}, 30*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q\n%s", err, tc.want, out)
			}
		})
	}
}

func TestRealBackendScriptErrorIsReported(t *testing.T) {
	e := newFakeEstate(t, "ok")
	_, out, err := e.run("was.engine-state", runbook.Args{"engine": "nosuch-ME", "expect": []string{"Started"}}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no messaging engine nosuch-ME in the configuration of cell c1: check the engine name") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	// A configured engine whose servers are all down has nowhere to start.
	e.update(func(c *fakeCell) { c.Servers["server2"]["running"] = false })
	e.must("was.stop-engine", runbook.Args{"engine": "node02.server2-Bus1"})
	_, out, err = e.run("was.start-engine", runbook.Args{"engine": "node02.server2-Bus1", "mode": "FLUSH"}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "has no instance in a running server") {
		t.Fatalf("err = %v\n%s", err, out)
	}
}

func TestRealBackendHungWsadminIsStopped(t *testing.T) {
	e := newFakeEstate(t, "hang")
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
	if err := writeCredentials(context.Background(), host.NewLocal(runbook.LocalHost), path, Config{User: "admin"}, "a=b:c\\d #e"); err != nil {
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

// A wsadmin that echoes its properties file prints the password in its
// escaped form (s3cr\=t\:pw): it is masked like the raw one, and no child
// process holds the variable the password is read from.
func TestEchoedCredentialsAreMaskedInBothForms(t *testing.T) {
	e := newFakeEstate(t, "echo-props")
	_, out, err := e.run("was.engine-state", runbook.Args{"engine": "clu1.000-Bus1"}, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "com.ibm.SOAP.loginPassword=") {
		t.Fatalf("the stand-in did not echo its properties file:\n%s", out)
	}
	checkAbsent(t, "wsadmin output", out, plantedPassword, plantedEscaped)
	e.must("was.manager-status", runbook.Args{"expect": "STARTED"})
	recs := e.envRecords()
	if len(recs) != 2 {
		t.Fatalf("%d environments recorded, want wsadmin's and serverStatus's", len(recs))
	}
	for _, r := range recs {
		if v, ok := r.Env["TEST_WAS_PASSWORD"]; !ok || v != "" {
			t.Errorf("%s: TEST_WAS_PASSWORD = %q (present %t), want it blanked", r.Prog, v, ok)
		}
		for k, v := range r.Env {
			if strings.Contains(v, plantedPassword) || strings.Contains(v, plantedDBPassword) {
				t.Errorf("%s: %s holds a secret", r.Prog, k)
			}
		}
	}
}
