package runbook

import (
	"errors"
	"strings"
	"testing"
)

// TestYAMLErrorsKeepTheirPosition feeds malformed YAML, the kind a hand
// edit produces, to the runbook parser and the targets loader and checks
// the file:line:col and the wording the operator reads. It pins what the
// YAML library reports, so a change of library that loses a position or a
// message fails here. (The library places a syntax error at the line of the
// block it was parsing; syntaxProblems finds the line that breaks the
// file, for runbooks and targets files alike.)
func TestYAMLErrorsKeepTheirPosition(t *testing.T) {
	head := "schema: drillbook/v1\nid: t\ntitle: T\n"
	runbooks := []struct {
		name, yml, want string
	}{
		{"bad indentation", head + "steps:\n  - id: a\n   manual: x\n",
			`bad.yaml:6:4: did not find expected '-' indicator: check the indentation of this line against the lines above it`},
		{"a tab", head + "steps:\n\t- id: a\n",
			`bad.yaml:5:2: found character that cannot start any token`},
		{"unclosed quote", head + "steps:\n  - id: \"a\n    manual: x\n",
			`bad.yaml:5:3: found unexpected end of stream`},
		{"unclosed flow map", head + "steps:\n  - {id: a, manual: x\n",
			`bad.yaml:5:3: did not find expected ',' or '}': check the indentation of this line against the lines above it`},
		{"key written twice", head + "title: U\nsteps:\n  - id: a\n    manual: x\n",
			`bad.yaml:4:1: mapping key "title" already defined at line 3`},
		{"mapping value in a scalar", head + "steps:\n  - id: a\n    manual: x: y\n",
			`bad.yaml:6:5: mapping values are not allowed in this context: check the indentation of this line against the lines above it`},
		{"list where a map goes", head + "steps:\n  - id: a\n    with: [x]\n    action: shell.run\n",
			`bad.yaml:6:5: expected a map here, found a list`},
	}
	for _, c := range runbooks {
		t.Run("runbook/"+c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.yml))
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("Parse: %v, want problems", err)
			}
			if got := probs[0].String(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	targets := []struct {
		name, yml, want string
	}{
		{"bad indentation", "targets:\n  prod:\n    fake:\n      url: x\n     user: y\n",
			`targets.yaml:5:6: did not find expected key: check the indentation of this line against the lines above it`},
		{"unclosed flow list", "targets:\n  prod:\n    params: {engines: [ME1, ME2}\n",
			`targets.yaml:3:5: did not find expected ',' or ']': check the indentation of this line against the lines above it`},
	}
	for _, c := range targets {
		t.Run("targets/"+c.name, func(t *testing.T) {
			_, err := LoadTargets(writeTargets(t, c.yml), []string{"fake"})
			var probs Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("LoadTargets: %v, want problems", err)
			}
			got := probs[0].String()
			if i := strings.Index(got, "targets.yaml"); i >= 0 {
				got = got[i:]
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}
