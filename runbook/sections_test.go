package runbook

import (
	"strings"
	"testing"
)

// TestValidatePreflightFinallyAndObject checks what the validator says about
// preflight and finally steps and about a destructive operation's object,
// each with its file:line:col.
func TestValidatePreflightFinallyAndObject(t *testing.T) {
	head := "schema: drillbook/v1\nid: t\ntitle: T\n"
	main := "steps:\n  - id: work\n    action: shell.run\n    with: {argv: [x]}\n"
	cases := []struct {
		name string
		yml  string
		want []string
	}{
		{"preflight calls an operation that is not read-only", head + "preflight:\n  - id: p\n    action: shell.run\n    with: {argv: [x]}\n" + main, []string{
			`bad.yaml:6:13: preflight step p calls shell.run, which may change the estate: preflight steps may only call read-only operations`}},
		{"preflight is manual", head + "preflight:\n  - id: p\n    manual: look\n" + main, []string{
			`bad.yaml:6:13: preflight step p is manual`}},
		{"preflight watches a log", head + "preflight:\n  - id: p\n    wait: {log: /x.log, success: [CWSIP0783], timeout: 1m}\n" + main, []string{
			`bad.yaml:6:11: preflight step p watches a log`}},
		{"preflight is destructive", head + "preflight:\n  - id: p\n    destructive: true\n    confirm: x\n    action: test.check\n" + main, []string{
			`bad.yaml:6:18: preflight step p is destructive`}},
		{"goto from steps into finally", head + "steps:\n  - id: work\n    action: shell.run\n    with: {argv: [x]}\n    on_failure: {goto: undo}\nfinally:\n  - id: undo\n    action: shell.run\n    with: {argv: [y]}\n", []string{
			`bad.yaml:8:24: on_failure goto: step "undo" is under finally: and this step is under steps:`}},
		{"next from finally into steps", head + main + "finally:\n  - id: undo\n    action: shell.run\n    with: {argv: [y]}\n    next: work\n", []string{
			`bad.yaml:12:11: next: step "work" is under steps: and this step is under finally:`}},
		{"duplicate id across sections", head + "preflight:\n  - id: work\n    action: test.check\n" + main, []string{
			`bad.yaml:8:9: duplicate step id "work": also used by the step at line 5`}},
		{"ran names no step", head + main + "finally:\n  - id: undo\n    when: '{{ ran \"wrok\" }}'\n    action: shell.run\n    with: {argv: [y]}\n", []string{
			`bad.yaml:10:11: template "{{ ran \"wrok\" }}" names no step: there is no step "wrok"`}},
		{"confirm is not the object", head + "steps:\n  - id: wipe\n    destructive: true\n    confirm: '{{ .a }}'\n    action: test.destroy\n    with: {server: '{{ .b }}'}\nparams:\n  - {name: a}\n  - {name: b}\n", []string{
			`bad.yaml:7:14: confirm: must be written exactly as the argument server ("{{ .b }}"), so the token the operator types names what test.destroy acts on`}},
		{"object argument missing", head + "steps:\n  - id: wipe\n    destructive: true\n    confirm: ms1\n    action: test.destroy\n", []string{
			`bad.yaml:5:5: test.destroy acts on the server it is given: give server: under with: and confirm: the same`}},
	}
	specs := append(testSpecs(), OpSpec{Name: "test.destroy", Destructive: true, Object: "server", Args: []ArgSpec{{Name: "server", Kind: ArgString}}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("bad.yaml", []byte(c.yml))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var got []string
			for _, p := range Validate(rb, specs) {
				got = append(got, p.String())
			}
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
	ok := head + "preflight:\n  - id: p\n    action: test.check\n" + "steps:\n  - id: wipe\n    destructive: true\n    confirm: '{{ .s }}'\n    action: test.destroy\n    with: {server: '{{ .s }}'}\nfinally:\n  - id: undo\n    when: '{{ and (ran \"wipe\") (ne runStatus \"succeeded\") }}'\n    action: shell.run\n    with: {argv: [y, '{{ stepState \"p\" }}']}\nparams:\n  - {name: s}\n"
	rb, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if probs := Validate(rb, specs); probs != nil {
		t.Fatalf("a valid runbook with every section is refused:\n%v", probs)
	}
}
