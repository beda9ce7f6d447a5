package runbook

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func problemsOf(t *testing.T, yml string) []string {
	t.Helper()
	rb, err := Parse("bad.yaml", []byte(yml))
	var probs Problems
	if err != nil {
		if !errors.As(err, &probs) {
			t.Fatalf("parse error is not Problems: %v", err)
		}
	} else {
		probs = Validate(rb, testSpecs())
	}
	out := make([]string, len(probs))
	for i, p := range probs {
		out[i] = p.String()
	}
	return out
}

// TestValidateReportsEveryProblemWithPosition feeds runbooks with one kind
// of mistake each and checks the message and its file:line:col.
func TestValidateReportsEveryProblemWithPosition(t *testing.T) {
	head := "schema: drillbook/v1\nid: t\ntitle: T\n"
	cases := []struct {
		name string
		yml  string
		want []string
	}{
		{"unknown field", head + "steps:\n  - id: a\n    acton: shell.run\n", []string{
			`bad.yaml:6:5: unknown field "acton" in step`}},
		{"unknown operation", head + "steps:\n  - id: a\n    action: shell.rnu\n", []string{
			`bad.yaml:6:13: unknown operation "shell.rnu": shell offers shell.run`}},
		{"unknown argument and missing required", head + "steps:\n  - id: a\n    action: shell.run\n    with: {arvg: [ls]}\n", []string{
			`bad.yaml:7:11: shell.run needs the argument argv`,
			`bad.yaml:7:18: shell.run has no argument "arvg": its arguments are argv, timeout`}},
		{"undefined parameter", head + "steps:\n  - id: a\n    action: shell.run\n    with: {argv: [ls, \"{{ .dir }}\"]}\n", []string{
			`bad.yaml:7:18: undefined parameter "dir" in template "{{ .dir }}": declare it under params`}},
		{"duplicate step id", head + "steps:\n  - id: a\n    manual: x\n  - id: a\n    manual: y\n", []string{
			`bad.yaml:7:9: duplicate step id "a": also used by the step at line 5`}},
		{"goto to a missing step", head + "steps:\n  - id: a\n    manual: x\n    on_failure: {goto: nowhere}\n", []string{
			`bad.yaml:7:24: on_failure goto: there is no step "nowhere"`}},
		{"destructive without confirm", head + "steps:\n  - id: a\n    destructive: true\n    action: test.wipe\n    with: {target: x}\n", []string{
			`bad.yaml:6:18: destructive step a has no confirm`}},
		{"destructive operation not marked", head + "steps:\n  - id: a\n    action: test.wipe\n    with: {target: x}\n", []string{
			`bad.yaml:6:13: test.wipe destroys or overwrites data, or takes something out of service: mark the step destructive: true`}},
		{"wait without timeout", head + "steps:\n  - id: a\n    wait: {log: /x.log, success: [CWSIP0783]}\n", []string{
			`bad.yaml:6:11: wait needs a timeout`}},
		{"regex that does not compile", head + "steps:\n  - id: a\n    wait: {log: /x.log, success: [\"CWSIP(0783\"], timeout: 5m}\n", []string{
			`bad.yaml:6:34: success pattern "CWSIP(0783" does not compile: missing closing )`}},
		{"unreachable step", head + "steps:\n  - id: a\n    manual: x\n    next: c\n  - id: b\n    manual: y\n  - id: c\n    manual: z\n", []string{
			`bad.yaml:8:9: step b can never be reached`}},
		{"wrong type", head + "steps:\n  - id: a\n    manual: x\n    destructive: yes please\n", []string{
			`bad.yaml:7:5: expected true or false here, found a string`}},
		{"bad duration", head + "steps:\n  - id: a\n    manual: x\n    timeout: 5 minutes\n", []string{
			`bad.yaml:7:14: "5 minutes" is not a duration`}},
		{"secret default", head + "params:\n  - {name: pw, type: secret, default: hunter2}\nsteps:\n  - id: a\n    manual: x\n", []string{
			`bad.yaml:5:39: a secret parameter cannot have a default`}},
		{"foreach over a string", head + "params:\n  - {name: e, type: string}\nsteps:\n  - id: a\n    manual: x {{ .item }}\n    foreach: {param: e}\n", []string{
			`bad.yaml:9:22: foreach: parameter "e" is a string, not a list`}},
		{"range in a template", head + "steps:\n  - id: a\n    manual: \"{{ range 1000000000000 }}{{ end }}\"\n", []string{
			`bad.yaml:6:13: template uses range: runbook templates render values, not loops`}},
		{"schema", "schema: drillbook/v9\nid: t\ntitle: T\nsteps:\n  - id: a\n    manual: x\n", []string{
			`bad.yaml:1:9: unknown schema "drillbook/v9"`}},
		{"string where a list is needed", head + "steps:\n  - id: a\n    action: shell.run\n    with:\n      argv: echo hello\n", []string{
			`bad.yaml:8:13: argument argv must be a list, like [echo, hello]: a single string is not split into words`}},
		{"list parameter where a list is needed", head + "params:\n  - {name: cmd, type: list, default: [ls, -l]}\nsteps:\n  - id: a\n    action: shell.run\n    with: {argv: \"{{ .cmd }}\"}\n", nil},
		{"undefined name in notes", head + "steps:\n  - id: a\n    manual: x\n    notes: \"The bus {{ .bus }} must be quiet\"\n", []string{
			`bad.yaml:7:12: undefined parameter "bus" in template "The bus {{ .bus }} must be quiet": declare it under params`}},
		{"undefined name in a title", head + "steps:\n  - id: a\n    title: Stop {{ .engine }}\n    manual: x\n", []string{
			`bad.yaml:6:12: undefined parameter "engine"`}},
		{"wait timeout of zero", head + "steps:\n  - id: a\n    wait: {log: /x.log, success: [CWSIP0783], timeout: 0}\n", []string{
			`bad.yaml:6:56: wait timeout must be more than 0`}},
		{"mis-indented key deeper in a step", head + "steps:\n  - id: a\n    action: shell.run\n    with:\n      argv: [ls]\n   timeout: 5s\n  - id: b\n    manual: y\n", []string{
			`bad.yaml:9:4: did not find expected '-' indicator: check the indentation of this line`}},
		{"malformed yaml", head + "steps:\n  - id: a\n   manual: x\n", []string{
			`bad.yaml:6:4: did not find expected '-' indicator: check the indentation of this line`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := problemsOf(t, c.yml)
			if len(got) != len(c.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(c.want), strings.Join(got, "\n"))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want %s...", i, got[i], w)
				}
			}
		})
	}
}

// TestValidateReportsAllNotFirst checks that one file with several mistakes
// gets all of them in one run.
func TestValidateReportsAllNotFirst(t *testing.T) {
	yml := "schema: drillbook/v1\nid: t\ntitle: T\nsteps:\n  - id: a\n    action: nope.x\n  - id: a\n    manual: y\n  - id: b\n    wait: {log: /x, success: [\"(\"]}\n"
	got := problemsOf(t, yml)
	if len(got) < 4 {
		t.Fatalf("want at least 4 problems (unknown op, duplicate id, no timeout, bad regex), got %d:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// TestValidateFileGoesOnAfterATypeError: a value of the wrong type
// (timeout: 5 minutes) is reported where it is written, and every other
// problem of the file is reported too, each once, at its own line.
func TestValidateFileGoesOnAfterATypeError(t *testing.T) {
	yml := `schema: drillbook/v1
id: t
title: T
steps:
  - id: a
    action: shell.run
    with: {argv: [echo, hi]}
    timeout: 5 minutes
  - id: b
    action: shel.run
  - id: c
    action: shell.run
    with:
      argv: echo hello
  - id: d
    manual: "{{ .nope }}"
    wait: {log: /x.log, success: [CWSIP0783], timeout: ten minutes}
`
	path := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ValidateFile(path, testSpecs())
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("ValidateFile: %v", err)
	}
	want := []string{
		`:8:14: "5 minutes" is not a duration`,
		`:10:13: unknown operation "shel.run"`,
		`:14:13: argument argv must be a list`,
		`:16:13: step d is manual and also has action: or wait:`,
		`:16:13: undefined parameter "nope"`,
		`:17:56: "ten minutes" is not a duration`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), probs)
	}
	for i, w := range want {
		if got := strings.TrimPrefix(probs[i].String(), path); !strings.HasPrefix(got, w) {
			t.Errorf("problem %d: got %s, want %s...", i, got, w)
		}
	}
	if _, err := Parse(path, []byte(yml)); err == nil {
		t.Error("Parse accepted a runbook with a type error: run must refuse it")
	}
}

// TestDemoRunbookValidates keeps the shipped demo runbook valid against the
// operations the test specs declare for shell; the full check against every
// adapter is in cmd/drillbook's tests.
func TestDemoRunbookValidates(t *testing.T) {
	rb, err := ParseFile("../runbooks/demo-shell.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if probs := Validate(rb, testSpecs()); probs != nil {
		t.Fatal(probs)
	}
	if got := len(rb.Steps); got != 4 {
		t.Fatalf("demo has %d steps, want 4", got)
	}
}

// TestResolveParams covers types, patterns, defaults and required values.
func TestResolveParams(t *testing.T) {
	yml := `schema: drillbook/v1
id: p
title: P
params:
  - {name: engine, type: string, required: true, pattern: "[A-Za-z0-9._-]+"}
  - {name: n, type: int, default: "3"}
  - {name: flush, type: bool, default: "true"}
  - {name: list, type: list, default: [a, b]}
  - {name: pw, type: secret}
  - {name: kind, choices: [same, other], default: same}
steps:
  - id: a
    manual: "{{ .engine }}"
`
	rb, err := Parse("p.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveParams(rb, map[string]string{}); err == nil || !strings.Contains(err.Error(), "parameter engine is required: pass --param engine=VALUE") {
		t.Fatalf("missing required: %v", err)
	}
	if _, err := ResolveParams(rb, map[string]string{"engine": "ME1; rm -rf /"}); err == nil || !strings.Contains(err.Error(), "does not match the pattern") {
		t.Fatalf("pattern: %v", err)
	}
	if _, err := ResolveParams(rb, map[string]string{"engine": "ME1", "pw": "hunter2", "kind": "third"}); err == nil || !strings.Contains(err.Error(), `"third" is not one of same, other`) {
		t.Fatalf("choices: %v", err)
	}
	v, err := ResolveParams(rb, map[string]string{"engine": "ME1", "pw": "hunter2", "list": "x, y,z"})
	if err != nil {
		t.Fatal(err)
	}
	if v["n"] != int64(3) || v["flush"] != true || strings.Join(v["list"].([]string), "|") != "x|y|z" || v["pw"] != "hunter2" {
		t.Fatalf("values: %#v", v)
	}
	if s := rb.Secrets(v); len(s) != 1 || s[0] != "hunter2" {
		t.Fatalf("secrets: %v", s)
	}
}

// TestRunbookDependsOnNoUIOrAdapter fails the build of the layers when the
// core comes to import the screen, the adapters or a charmbracelet module.
func TestRunbookDependsOnNoUIOrAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps gave %d packages: the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		if strings.Contains(d, "/drillbook/tui") || strings.Contains(d, "/drillbook/adapters") || strings.Contains(d, "charmbracelet/") {
			t.Errorf("runbook/ depends on %s: the core must not know the screen or the adapters", d)
		}
	}
	if _, err := os.Stat("engine.go"); err != nil {
		t.Fatal("run from the runbook package directory")
	}
}
