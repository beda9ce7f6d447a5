package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/drillbook/drillbook/runbook"
)

// osStreams are the real process's streams, for the binary the tests run.
func osStreams() streams {
	return streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Terminal: func() bool { return isTerminal(os.Stdout) }}
}

// TestMain lets the test binary act as drillbook: testscript installs it as
// the drillbook command, and the crash tests run it with
// DRILLBOOK_TEST_MAIN=1 so they can kill -9 a real drillbook process.
func TestMain(m *testing.M) {
	// `drillbook.test agent`: the test binary is the agent a test sshd
	// starts for a remote host (an sshd passes no environment).
	if len(os.Args) == 2 && os.Args[1] == "agent" {
		os.Exit(Main(os.Args[1:], osStreams()))
	}
	if os.Getenv("DRILLBOOK_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], osStreams()))
	}
	testscript.Main(m, map[string]func(){
		"drillbook": func() { os.Exit(Main(os.Args[1:], osStreams())) },
	})
}

// TestScripts runs the command-line scripts in testdata/script: validate,
// plan, run, resume, runs and report, with every exit code.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("DRILLBOOK_STATE_DIR", env.WorkDir+"/state")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/config")
			env.Setenv("DRILLBOOK_OPERATOR", "tester")
			return nil
		},
	})
}

// TestShippedRunbooksValidate validates every embedded runbook against the
// operations of every adapter, as `drillbook run ID` does before it starts.
func TestShippedRunbooksValidate(t *testing.T) {
	rbs, err := shippedRunbooks()
	if err != nil {
		t.Fatal(err)
	}
	if len(rbs) < 8 {
		t.Fatalf("%d shipped runbooks, want the demo and the seven broker procedures", len(rbs))
	}
	specs := allSpecs()
	for _, rb := range rbs {
		if probs := runbook.Validate(rb, specs); probs != nil {
			t.Errorf("shipped runbook %s:\n%v", rb.ID, probs)
		}
	}
}
