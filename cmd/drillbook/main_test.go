package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// osStreams are the real process's streams, for the binary the tests run.
func osStreams() streams {
	return streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Terminal: func() bool { return isTerminal(os.Stdout) }}
}

// TestMain lets the test binary act as drillbook: testscript installs it as
// the drillbook command, and the crash tests run it with
// DRILLBOOK_TEST_MAIN=1 so they can kill -9 a real drillbook process.
func TestMain(m *testing.M) {
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
