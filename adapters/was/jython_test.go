package was

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/scripts")

// TestGeneratedScriptsGolden pins the exact Jython text wsadmin is given
// for every script; refresh with go test ./adapters/was -run Golden -update.
func TestGeneratedScriptsGolden(t *testing.T) {
	names := ScriptNames()
	if len(names) != 11 {
		t.Fatalf("%d scripts, want 11: %v", len(names), names)
	}
	for _, name := range append(names, sessionLoopName) {
		got, err := generated(name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "scripts", name+".py")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("script %s differs from %s (run with -update if the change is intended):\n%s", name, path, lineDiff(string(want), got))
		}
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}

// TestGeneratedScriptsParseAsPython checks every script with python3's
// parser, and rejects Python-2-only or Python-3-only syntax that would break
// on one of wsadmin's Jython versions.
func TestGeneratedScriptsParseAsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to check the generated Jython: install it")
	}
	dir := t.TempDir()
	for _, name := range append(ScriptNames(), sessionLoopName) {
		text, _ := generated(name)
		path := filepath.Join(dir, name+".py")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", path).CombinedOutput()
		if err != nil {
			t.Errorf("script %s does not parse as Python: %v\n%s", name, err, out)
		}
		for _, bad := range []string{"True", "False", " as e", "print ", "with ", "f'", "lambda"} {
			if strings.Contains(text, bad) {
				t.Errorf("script %s uses %q, which Jython 2.1 does not accept", name, bad)
			}
		}
	}
}

// TestScriptsCarryNoValues shows that a value an operator types reaches the
// script only as an argument: the text is the same whatever the engine is.
func TestScriptsCarryNoValues(t *testing.T) {
	args := []string{"ME1'; AdminControl.stopServer('x','y')", "FLUSH", "", "", "fail", "120"}
	// In a session the values travel as the request's argument blocks.
	sess := NewRealBackend(Config{Wsadmin: "/opt/IBM/bin/wsadmin.sh", Host: "dmgr", Port: 8879, User: "admin"})
	p := sess.Plan(Request{Script: ScriptStartEngine, Args: args})
	if len(p.Argv) != 2+len(args) || p.Argv[2] != args[0] || !strings.Contains(p.Detail, "-p '<credentials.properties, mode 0600>'") {
		t.Errorf("session plan does not pass the engine as an argument: %q, %s", p.Argv, p.Detail)
	}
	req, err := encodeRequest("7", "script", args)
	if err != nil || strings.Count(req, "\n--drillbook-") != len(args)+1 || !strings.Contains(req, "\n"+args[0]+"\n") {
		t.Errorf("request %q (%v) does not carry the engine as a block of its own", req, err)
	}
	b := NewRealBackend(Config{Wsadmin: "/opt/IBM/bin/wsadmin.sh", Host: "dmgr", Port: 8879, User: "admin", NoSession: true})
	p = b.Plan(Request{Script: ScriptStartEngine, Args: args})
	joined := strings.Join(p.Argv, " ")
	if !strings.Contains(joined, "-f <start-engine.py> --drillbook-args ME1'; AdminControl") {
		t.Errorf("argv does not pass the engine as an argument: %q", p.Argv)
	}
	if strings.Contains(joined, "-password") || strings.Contains(joined, "-user ") {
		t.Errorf("credentials on the command line: %q", p.Argv)
	}
	if !strings.Contains(joined, "-p <credentials.properties, mode 0600>") {
		t.Errorf("no properties file in %q", p.Argv)
	}
}
