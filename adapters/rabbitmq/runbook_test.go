package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

// walk drives a shipped runbook through the engine alone (layer (a): no
// process, no node): every confirmation is given, every call succeeds
// except the action of the step named fail, and it returns the finally
// steps that ran and the run's status. The real-node drill runs the same
// runbooks end to end; this one reaches the failures a real node does not
// give on demand.
func walk(t *testing.T, id, fail string, given map[string]string) (ran []string, status runbook.RunStatus) {
	t.Helper()
	data, err := runbooks.FS.ReadFile(id + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse(id+".yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := runbook.ResolveParams(rb, given)
	if err != nil {
		t.Fatal(err)
	}
	e, err := runbook.NewEngine(rb, runbook.NewRegistry(Operations(Config{})...).Specs(), vals)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	queue := e.Handle(runbook.Input{Type: runbook.InStart, Time: now})
	finally := false
	for n := 0; len(queue) > 0; n++ {
		if n > 10000 {
			t.Fatalf("%s: the run does not end", id)
		}
		ev := queue[0]
		queue = queue[1:]
		now = now.Add(time.Second)
		switch ev.Type {
		case runbook.EvRunFinally:
			finally = true
		case runbook.EvStepStarted:
			if finally {
				ran = append(ran, ev.StepID)
			}
		case runbook.EvCallStart:
			res := &runbook.Result{Summary: "ok", Vars: map[string]string{"dir": "/backups/20261203T090000Z"}}
			in := runbook.Input{Type: runbook.InCallDone, Time: now, ID: ev.ID, Result: res}
			if ev.StepID == fail && ev.Phase == runbook.PhaseAction {
				in.Result, in.Error = nil, "failed on purpose"
			}
			queue = append(queue, e.Handle(in)...)
		case runbook.EvConfirmRequest:
			queue = append(queue, e.Handle(runbook.Input{Type: runbook.InConfirm, Time: now, Step: ev.Step, Token: ev.Token})...)
		case runbook.EvOperatorRequest:
			t.Fatalf("%s: step %s asks the operator (%s): the walk gives no such answer", id, ev.Step, ev.Ask)
		case runbook.EvRunFinished:
			return ran, ev.Status
		}
	}
	t.Fatalf("%s: no run.finished", id)
	return nil, ""
}

// TestFinallyPutsTheEstateBack: what the finally steps of the shipped
// runbooks do after each kind of ending. A failed backup starts producers
// and consumers again; a restore that fails before msg_stores is replaced
// ends maintenance and starts the application again; one that fails after
// leaves the application out and says what state the node is in.
func TestFinallyPutsTheEstateBack(t *testing.T) {
	restore := map[string]string{"node": "rabbit@mq1", "exclude_vhost": "/", "exclude_queue": "cq.b", "exclude_routing_keys": "b.drop"}
	for _, c := range []struct {
		id, fail string
		given    map[string]string
		status   runbook.RunStatus
		ran      string
	}{
		{"rabbitmq-backup", "", map[string]string{"node": "rabbit@mq1"}, runbook.RunSucceeded, "start-producers start-consumers"},
		{"rabbitmq-backup", "check-idle", map[string]string{"node": "rabbit@mq1"}, runbook.RunFailed, "start-producers start-consumers"},
		{"rabbitmq-backup", "backup-messages", map[string]string{"node": "rabbit@mq1"}, runbook.RunFailed, "start-producers start-consumers"},
		{"rabbitmq-backup", "set", map[string]string{"node": "rabbit@mq1"}, runbook.RunFailed, ""},
		{"rabbitmq-restore", "", restore, runbook.RunSucceeded, "unblock-clients revive start-producers start-consumers"},
		{"rabbitmq-restore", "drain", restore, runbook.RunFailed, "revive start-producers start-consumers"},
		{"rabbitmq-restore", "import-definitions", restore, runbook.RunFailed, "revive start-producers start-consumers"},
		{"rabbitmq-restore", "restore-messages", restore, runbook.RunFailed, "unblock-clients revive start-producers start-consumers"},
		{"rabbitmq-restore", "verify-counts", restore, runbook.RunFailed, "left-in-maintenance"},
		{"rabbitmq-restore", "exclude-messages", restore, runbook.RunFailed, "left-in-maintenance"},
	} {
		ran, status := walk(t, c.id, c.fail, c.given)
		if status != c.status || strings.Join(ran, " ") != c.ran {
			t.Errorf("%s failing at %q: ended %s with finally steps [%s], want %s with [%s]", c.id, c.fail, status, strings.Join(ran, " "), c.status, c.ran)
		}
	}
}
