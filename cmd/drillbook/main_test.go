package main

import (
	"errors"
	"os"
	"regexp"
	"strings"
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
		s := osStreams()
		s.onRun = crashHook() // the crash sweep's kill, when it names a point
		os.Exit(Main(os.Args[1:], s))
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
		Cmds:                map[string]func(ts *testscript.TestScript, neg bool, args []string){"runhint": runHint},
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

// runHint is the script command `runhint VERB`: it takes the last
// drillbook VERB command the previous command printed between backquotes
// (a hint such as
// `drillbook resume RUN --confirm wipe=demo --state-dir /x`), splits it as
// a POSIX shell would, and runs it, as an operator copying the hint does.
func runHint(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: runhint VERB (the last drillbook VERB ... printed)")
	}
	out := ts.ReadFile("stdout") + ts.ReadFile("stderr")
	hints := regexp.MustCompile("`(drillbook "+regexp.QuoteMeta(args[0])+" [^`]+)`").FindAllStringSubmatch(out, -1)
	if len(hints) == 0 {
		ts.Fatalf("the last command printed no drillbook %s command to copy", args[0])
	}
	line := hints[len(hints)-1][1]
	words, err := shellWords(line)
	if err != nil {
		ts.Fatalf("hint %q: %v", line, err)
	}
	ts.Logf("copied: %s", line)
	err = ts.Exec(words[0], words[1:]...)
	if err != nil {
		ts.Logf("[%v]", err)
		if !neg {
			ts.Fatalf("unexpected command failure")
		}
	} else if neg {
		ts.Fatalf("unexpected command success")
	}
}

// shellWords splits a command line the way a POSIX shell does for the
// quoting runbook.QuoteArgv produces: spaces, single quotes, and '\”.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, started := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\'':
			in = false
		case in:
			cur.WriteByte(c)
		case c == '\'':
			in, started = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			started = true
		case c == ' ':
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if in {
		return nil, errors.New("unterminated quote")
	}
	if started {
		words = append(words, cur.String())
	}
	return words, nil
}
