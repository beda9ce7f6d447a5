package runbook

import (
	"strings"
	"testing"
)

func TestPatternWarningsFlagTextAfterAMessageID(t *testing.T) {
	src := `schema: drillbook/v1
id: lint-demo
title: Lint demo
params:
  - name: log
    default: /tmp/x.log
steps:
  - id: wait-text
    title: Wait on text
    wait:
      log: "{{ .log }}"
      success: ['CWSID0016I: Messaging engine \S+ is in state Started']
      failure: [CWSIS1519, 'CWSIP0783I: (?P<rest>.*)', 'CWSIS1537I\s+\S+']
      warn: ['Messaging engine \S+ stopped']
      timeout: 1m
`
	rb, err := Parse("lint.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ws := PatternWarnings(rb)
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1 (only the pattern with words after its id):\n%v", len(ws), ws)
	}
	got := ws[0].String()
	if !strings.HasPrefix(got, "lint.yaml:12:16: warning: success pattern") || !strings.Contains(got, "message id CWSID0016I") || !strings.Contains(got, "(CWSID0016)") {
		t.Errorf("warning %q", got)
	}
}
