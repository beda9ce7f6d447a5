package was

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/runbook"
)

func TestSimulatedRestoreConfigPlanShowsTheProfileAndTheOutage(t *testing.T) {
	zero := 0.0
	tr, err := StartTrainingWith(context.Background(), t.TempDir(), TrainingOptions{DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	restore := opsByName(tr.Ops)["was.restore-config"]
	set := filepath.Join(t.TempDir(), "20260101T000000Z")
	for _, tc := range []struct {
		nostop             bool
		detail, object     string
		objectStopsManager bool
	}{
		{false, "restoreConfig " + filepath.Join(set, "config.zip") + " (simulated) in profile Dmgr01 (deployment manager)", "the master configuration of cell TrainingCell01, in profile Dmgr01 (deployment manager)", true},
		{true, "restoreConfig " + filepath.Join(set, "config.zip") + " -nostop (simulated) in profile Dmgr01 (deployment manager)", "the master configuration of cell TrainingCell01, in profile Dmgr01 (deployment manager)", false},
	} {
		p, err := restore.Plan(runbook.Call{Args: runbook.Args{"cell": "TrainingCell01", "set": set, "nostop": tc.nostop}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Detail, tc.detail) {
			t.Errorf("nostop=%t: plan detail %q, want it to start %q", tc.nostop, p.Detail, tc.detail)
		}
		if !strings.HasPrefix(p.Object, tc.object) || strings.Contains(p.Object, "the deployment manager is stopped first") != tc.objectStopsManager {
			t.Errorf("nostop=%t: plan object %q", tc.nostop, p.Object)
		}
	}
}

func TestSimulatedStopsOfAnInactiveEngineSayThereIsNothingToStop(t *testing.T) {
	zero := 0.0
	tr, err := StartTrainingWith(context.Background(), t.TempDir(), TrainingOptions{DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	ops := opsByName(tr.Ops)
	ctx := context.Background()
	const me = "node01.appsrv1-Bus1"
	stopEngine := runbook.Call{Args: runbook.Args{"engine": me}}
	res, err := ops["was.stop-engine"].Run(ctx, stopEngine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "engine " + me + " stopped in node01/appsrv1: Started -> Stopped"; res.Summary != want {
		t.Errorf("first stop: %q, want %q", res.Summary, want)
	}
	res, err = ops["was.stop-engine"].Run(ctx, stopEngine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "engine " + me + ": not active; nothing to do"; res.Summary != want {
		t.Errorf("second stop: %q, want %q", res.Summary, want)
	}

	// Stopping a server that is already stopped says so and prints no
	// WASX7264I: nothing was stopped.
	stopServer := runbook.Call{Args: runbook.Args{"node": "node03", "server": "server3"}}
	if _, err := ops["was.stop-server"].Run(ctx, stopServer, nil); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	res, err = ops["was.stop-server"].Run(ctx, stopServer, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "server node03/server3 was already stopped: nothing was stopped"; res.Summary != want {
		t.Errorf("stop-server: %q, want %q", res.Summary, want)
	}
	if strings.Contains(out.all(), "WASX7264I") {
		t.Errorf("a stop that stopped nothing printed WASX7264I:\n%s", out.all())
	}
	s, err := tr.Cell.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Servers["appsrv1"].Running || s.Servers["server3"].Running {
		t.Errorf("appsrv1 running %t, server3 running %t; want only server3 stopped", s.Servers["appsrv1"].Running, s.Servers["server3"].Running)
	}
}

// PlanTraining builds nothing, gives the Params StartTraining gives for the
// same directory, and its operations plan but never run.
func TestPlanTrainingMatchesStartTrainingAndRunsNothing(t *testing.T) {
	for _, sc := range []string{"", "normal", "default", "hpel", "preferred-server-down"} {
		dir := t.TempDir()
		pt, err := PlanTraining(dir, sc)
		if err != nil {
			t.Fatalf("%q: %v", sc, err)
		}
		ops := opsByName(pt.Ops)
		p, err := ops["was.restore-config"].Plan(runbook.Call{Args: runbook.Args{"cell": "TrainingCell01", "set": filepath.Join(dir, "backups", "x")}})
		if err != nil || !strings.Contains(p.Detail, "restoreConfig") || !strings.Contains(p.Object, "cell TrainingCell01") {
			t.Errorf("%q: plan %+v, %v", sc, p, err)
		}
		for _, name := range []string{"was.check-connection", "was.stop-manager", "was.new-backup-set"} {
			if _, err := ops[name].Run(context.Background(), runbook.Call{Args: runbook.Args{"cell": "TrainingCell01"}}, nil); err == nil || !strings.Contains(err.Error(), "opened to plan only") {
				t.Errorf("%q: %s ran: %v", sc, name, err)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%q: PlanTraining made %d entries in %s", sc, len(ents), dir)
		}
		zero := 0.0
		tr, err := StartTrainingWith(context.Background(), dir, TrainingOptions{Scenario: sc, DelayScale: &zero})
		if err != nil {
			t.Fatalf("%q: %v", sc, err)
		}
		if !maps.Equal(pt.Params, tr.Params) {
			t.Errorf("%q: PlanTraining params\n%v\nStartTraining params\n%v", sc, pt.Params, tr.Params)
		}
	}
	if _, err := PlanTraining(t.TempDir(), "no-such"); err == nil || !strings.Contains(err.Error(), "dmgr-start-fails") {
		t.Errorf("unknown scenario: %v", err)
	}
}

// docs/training.md has one WebSphere row per scenario of the cell, and no
// row for a scenario the cell does not know.
func TestTrainingDocListsEveryScenario(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "training.md"))
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, l := range strings.Split(string(b), "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 4 || strings.TrimSpace(cells[2]) != "WebSphere" {
			continue
		}
		name := strings.Trim(strings.TrimSpace(strings.Split(cells[1], "/")[0]), "` ")
		documented = append(documented, name)
	}
	slices.Sort(documented)
	if want := Scenarios(); !slices.Equal(documented, want) {
		t.Errorf("docs/training.md documents WebSphere scenarios %v, the cell has %v", documented, want)
	}
}
