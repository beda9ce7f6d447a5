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
		{"malformed yaml", head + "steps:\n  - id: a\n   manual: x\n", []string{
			`bad.yaml:4:1: did not find expected '-' indicator: check the indentation`}},
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
