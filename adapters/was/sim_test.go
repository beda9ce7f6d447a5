package was

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/runbook"
)

func TestSimulatedRestoreConfigPlanShowsTheToolsOptions(t *testing.T) {
	zero := 0.0
	tr, err := StartTrainingWith(context.Background(), t.TempDir(), TrainingOptions{DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	restore := opsByName(tr.Ops)["was.restore-config"]
	file := filepath.Join(t.TempDir(), "config.zip")
	for _, tc := range []struct {
		nostop bool
		want   string
	}{
		{false, "restoreConfig " + file + " (simulated)"},
		{true, "restoreConfig " + file + " -nostop (simulated)"},
	} {
		p, err := restore.Plan(runbook.Call{Args: runbook.Args{"file": file, "nostop": tc.nostop}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Detail != tc.want {
			t.Errorf("nostop=%t: plan %q, want %q", tc.nostop, p.Detail, tc.want)
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

	out := &lines{}
	res, err = ops["was.stop-server"].Run(ctx, runbook.Call{Args: runbook.Args{"engine": me}}, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "engine " + me + " not active: nothing to stop"; res.Summary != want {
		t.Errorf("stop-server: %q, want %q", res.Summary, want)
	}
	if strings.Contains(out.all(), "WASX7264I") {
		t.Errorf("a stop that stopped nothing printed WASX7264I:\n%s", out.all())
	}
	s, err := tr.Cell.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Servers["appsrv1"].Running {
		t.Error("stop-server for an inactive engine stopped appsrv1")
	}
}
