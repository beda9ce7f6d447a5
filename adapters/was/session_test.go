package was

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// setFaults gives the stand-in wsadmin one fault per coming request.
func (e *fakeEstate) setFaults(faults ...string) {
	e.t.Helper()
	b, err := os.ReadFile(e.cellPath)
	if err != nil {
		e.t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		e.t.Fatal(err)
	}
	raw["faults"] = faults
	if b, err = json.Marshal(raw); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.cellPath, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// Each kind of bad answer from a wsadmin session ends that call with an
// error that says what happened, and the call after it works: in the same
// session when the session survived, in a new one when it did not. One
// stand-in cell serves every case, in order.
func TestSessionBadInput(t *testing.T) {
	e := newFakeEstate(t, "ok")
	state := runbook.Args{"engine": "clu1.000-Bus1"}
	ok := func(wantSession string, wantStarts int) {
		t.Helper()
		res, out, err := e.run("was.engine-state", state, 60*time.Second)
		if err != nil {
			t.Fatalf("the call after the fault failed: %v\n%s", err, out)
		}
		if !strings.HasPrefix(res.Session, wantSession) || res.SessionStarts != wantStarts {
			t.Errorf("session %q, %d starts; want %q..., %d", res.Session, res.SessionStarts, wantSession, wantStarts)
		}
	}
	cases := []struct {
		fault   string
		timeout time.Duration
		want    string
		session bool // the error is the session's, not the script's
		next    string
		starts  int
	}{
		// Session 1 asks for a password: no script runs.
		{"prompt", 60 * time.Second, `wsadmin asked for credentials ("Password:")`, true, "wsadmin session 2 ", 1},
		// The script's own exception is the script's error; the session goes on.
		{"raise", 60 * time.Second, "wsadmin engine-state: <class 'Exception'>: javax.management.JMRuntimeException: the fake MBean server refused the query", false, "wsadmin session 2 ", 0},
		// A result line that arrives in pieces is read whole.
		{"split", 60 * time.Second, "", false, "wsadmin session 2 ", 0},
		// Three megabytes before the result.
		{"big", 120 * time.Second, "", false, "wsadmin session 2 ", 0},
		// The JVM dies mid-call.
		{"die", 60 * time.Second, "the wsadmin session's JVM ended during engine-state", true, "wsadmin session 3 ", 1},
		// The connection drops.
		{"lost", 60 * time.Second, "wsadmin lost its connection during engine-state: WASX7023E", true, "wsadmin session 4 ", 1},
		// A call that hangs is stopped at its time, with its session.
		{"hang", 2 * time.Second, "did not finish in time", false, "wsadmin session 5 ", 1},
	}
	for _, tc := range cases {
		e.setFaults(tc.fault)
		start := time.Now()
		res, out, err := e.run("was.engine-state", state, tc.timeout)
		t.Logf("%s: %s", tc.fault, time.Since(start).Round(time.Millisecond))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.fault, err)
		case tc.want == "" && len(res.Vars) == 0:
			t.Errorf("%s: no result read", tc.fault)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want it to say %q\n%s", tc.fault, err, tc.want, out)
		case tc.want != "" && errors.Is(err, ErrSession) != tc.session:
			t.Errorf("%s: told as a session error: %t, want %t (%v)", tc.fault, errors.Is(err, ErrSession), tc.session, err)
		}
		if tc.fault == "big" && strings.Count(out, "xxxxxxxxxx\n") < 15000 {
			t.Errorf("big: %d lines of output reached the call, want all of them", strings.Count(out, "xxxxxxxxxx\n"))
		}
		ok(tc.next, tc.starts)
	}
}

// A session idle for was.session_idle ends, and the next call starts a
// new one; calls before that share it.
func TestSessionEndsWhenIdle(t *testing.T) {
	e := newFakeEstate(t, "ok")
	e.cfg.SessionIdle = runbook.Duration{Duration: 300 * time.Millisecond}
	e.ops = opsByName(Operations(e.cfg))
	state := runbook.Args{"engine": "clu1.000-Bus1"}
	want := []string{"wsadmin session 1 on dmgr01:8879 (SOAP) (started by this step)", "wsadmin session 1 on dmgr01:8879 (SOAP) (shared)"}
	for _, w := range want {
		res, out, err := e.run("was.engine-state", state, 60*time.Second)
		if err != nil || res.Session != w {
			t.Fatalf("session %q, want %q (%v)\n%s", res.Session, w, err, out)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, out, err := e.run("was.engine-state", state, 60*time.Second)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if res.Session == "wsadmin session 2 on dmgr01:8879 (SOAP) (started by this step)" && strings.Contains(out, "starting wsadmin session 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session was still used after 30s of 300ms idle periods: %q", res.Session)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Whatever stops the deployment manager ends the session first; nothing
// else does.
func TestSessionEndsBeforeTheManagerStops(t *testing.T) {
	cases := []struct {
		req  Request
		want bool
	}{
		{Request{Tool: ToolStopManager}, true},
		{Request{Tool: ToolStartManager}, true},
		{Request{Tool: ToolRestoreConfig, Args: []string{"a.zip", "false"}}, true},
		{Request{Tool: ToolRestoreConfig, Args: []string{"a.zip", "true"}}, false},
		{Request{Tool: ToolBackupConfig, Args: []string{"a.zip", "false"}}, true},
		{Request{Tool: ToolBackupConfig, Args: []string{"a.zip", "true"}}, false},
		{Request{Script: ScriptStopServer, Args: []string{"dmgrNode", "dmgr", ""}}, true},
		{Request{Script: ScriptStopServer, Args: []string{"node01", "server1", ""}}, false},
		{Request{Tool: ToolStopNode, Node: "node01"}, false},
		{Request{Script: ScriptStopEngine, Args: []string{"ME1", "IMMEDIATE", "", "60"}}, false},
	}
	for _, tc := range cases {
		if got := stopsManager(tc.req, "dmgr"); got != tc.want {
			t.Errorf("%s %v: ends the session %t, want %t", tc.req.Name(), tc.req.Args, got, tc.want)
		}
	}
}
