package messagesight

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

var shippedRunbooks = []string{"messagesight-backup", "messagesight-restore"}

func specs() []runbook.OpSpec {
	var s []runbook.OpSpec
	for _, o := range Operations(Config{}) {
		s = append(s, o.Spec())
	}
	return s
}

func TestShippedRunbooksValidateAndCiteSources(t *testing.T) {
	for _, id := range shippedRunbooks {
		rb, err := runbook.ParseFile(filepath.Join("..", "..", "runbooks", id+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if probs := runbook.Validate(rb, specs()); len(probs) > 0 {
			t.Errorf("%s: %v", id, probs)
		}
		for _, st := range rb.Steps {
			// Either the seed is the source and the reference corrects it, or
			// (maintenance mode, which the seed never mentions) the reference
			// is the source and the seed is named beside it (issue 17).
			seedFirst := st.Source.Doc == "001_5997eca29ae96eef.txt" && strings.HasPrefix(st.Source.Ref, "reference/messagesight.md §")
			refFirst := st.Source.Doc == "reference/messagesight.md" && strings.HasPrefix(st.Source.Ref, "001_5997eca29ae96eef.txt ")
			if !(seedFirst || refFirst) || st.Source.Section == "" {
				t.Errorf("%s step %s: source %+v does not cite the seed and the reference", id, st.ID, st.Source)
			}
		}
	}
}

func TestTrainingRejectsUnknownScenario(t *testing.T) {
	_, err := StartTraining(context.Background(), t.TempDir(), "flood")
	if err == nil || !strings.Contains(err.Error(), "normal, slow-restart, wrong-password, standby-unsynced, mismatched-store") {
		t.Errorf("err %v", err)
	}
}

// TestTrainingParamsCoverEveryRunbookParameter checks that every scenario
// of the training estate gives a value to every parameter of the shipped
// MessageSight runbooks. A started estate gives the planned parameters
// (checked for the normal scenario, which starts four emulated servers);
// the other scenarios are checked through PlanTraining, which computes
// them the same way without starting anything.
func TestTrainingParamsCoverEveryRunbookParameter(t *testing.T) {
	dir := t.TempDir()
	tr, err := StartTraining(context.Background(), dir, "normal")
	if err != nil {
		t.Fatal(err)
	}
	planned, err := PlanTraining(dir, "normal")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(tr.Params, planned.Params) {
		t.Errorf("a started estate's parameters differ from the planned ones:\nstarted %v\nplanned %v", tr.Params, planned.Params)
	}
	if err := tr.Stop(); err != nil {
		t.Error(err)
	}
	for _, sc := range Scenarios() {
		tr, err := PlanTraining(t.TempDir(), sc)
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		for _, id := range shippedRunbooks {
			rb, err := runbook.ParseFile(filepath.Join("..", "..", "runbooks", id+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rb.Params {
				if _, ok := tr.Params[p.Name]; !ok {
					t.Errorf("%s: training gives no value for %s.%s", sc, id, p.Name)
				}
			}
			if _, err := runbook.ResolveParams(rb, tr.Params); err != nil {
				t.Errorf("%s: %s: %v", sc, id, err)
			}
		}
	}
}

// TestTrainingEstateSurvivesARestart puts a server in maintenance, stops
// the estate as a killed drillbook would, and finds it still in maintenance
// when the estate is started again on the same directory.
func TestTrainingEstateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	tr, err := StartTraining(context.Background(), dir, "normal")
	if err != nil {
		t.Fatal(err)
	}
	run := func(tr *Training, name string, args runbook.Args) runbook.Result {
		t.Helper()
		for _, o := range tr.Ops {
			if o.Spec().Name == name {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res, err := o.Run(ctx, runbook.Call{Op: name, Args: args}, runbook.OutputFunc(func(runbook.Stream, string) {}))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return res
			}
		}
		t.Fatalf("no %s", name)
		return runbook.Result{}
	}
	run(tr, "messagesight.restart", runbook.Args{"node": "ms1", "maintenance": "start"})
	run(tr, "messagesight.wait-state", runbook.Args{"node": "ms1", "state": "maintenance", "every": 50 * time.Millisecond})
	if err := tr.Stop(); err != nil {
		t.Fatal(err)
	}
	tr2, err := StartTraining(context.Background(), dir, "normal")
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Stop()
	if st := run(tr2, "messagesight.status", runbook.Args{"node": "ms1"}); st.Vars["state"] != "9" {
		t.Errorf("after a restart of the estate ms1 is in state %s, want 9", st.Vars["state"])
	}
	if tr2.Params["config_backup"] != tr.Params["config_backup"] {
		t.Error("the prepared backup set moved")
	}
}
