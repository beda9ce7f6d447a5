package runbook

import (
	"strings"
	"testing"
)

// TestTargetParamNamesAreChecked refuses parameter names in targets.yaml
// that no runbook parameter can have (one with "=", one with a newline, a
// reserved one), each with its line and column, and keeps valid names a
// runbook may not declare.
func TestTargetParamNamesAreChecked(t *testing.T) {
	p := writeTargets(t, "targets:\n  prod:\n    params:\n      engines: [ME1]\n      \"bus=BUS1\": x\n      \"two\\nlines\": y\n      item: z\n      other_runbooks_param: ok\n")
	_, err := LoadTargets(p, nil)
	if err == nil {
		t.Fatal("bad parameter names were accepted")
	}
	for _, want := range []string{
		`targets.yaml:5:7: params of target "prod": "bus=BUS1" is not a parameter name`,
		`targets.yaml:6:7: params of target "prod": "two\nlines" is not a parameter name`,
		`targets.yaml:7:7: params of target "prod": "item" is reserved`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "other_runbooks_param") {
		t.Errorf("a valid name a runbook may use was refused:\n%v", err)
	}
}

// TestTargetNameWithANewlineIsRefusedOnOneLine refuses a target whose name
// holds a newline, and the message stays on one line.
func TestTargetNameWithANewlineIsRefusedOnOneLine(t *testing.T) {
	p := writeTargets(t, "targets:\n  \"prod\\nstaging\":\n    colour: blue\n")
	_, err := LoadTargets(p, nil)
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %q", err)
	}
	if !strings.Contains(err.Error(), `targets.yaml:2:3: target name "prod\nstaging" must be a word without control characters`) {
		t.Fatalf("got %v", err)
	}
}
