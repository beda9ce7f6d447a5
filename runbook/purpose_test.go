package runbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPurposeDefaults checks a run's purpose when --purpose does not say:
// the target's purpose:, else drill on a simulated target and incident on a
// real one; a bad purpose in targets.yaml names its line and column.
func TestPurposeDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(path, []byte("targets:\n  staging:\n    simulated: true\n    purpose: routine\n  prod:\n    description: real\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTargets(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	staging, _ := ts.Get("staging")
	prod, _ := ts.Get("prod")
	for _, c := range []struct {
		t    *Target
		want Purpose
	}{{staging, PurposeRoutine}, {prod, PurposeIncident}, {&Target{Name: TrainingTarget, Simulated: true}, PurposeDrill}} {
		if got := DefaultPurpose(c.t); got != c.want {
			t.Errorf("%s: %s, want %s", c.t.Name, got, c.want)
		}
	}
	if err := os.WriteFile(path, []byte("targets:\n  prod:\n    purpose: rehearsal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTargets(path, nil); err == nil || !strings.Contains(err.Error(), "targets.yaml:3:14: purpose: say incident, drill or routine") {
		t.Errorf("a bad purpose gives %v, want its file:line:col", err)
	}
	// A journal written before purposes were recorded.
	if p := (RunMeta{Simulated: true}).RunPurpose(); p != PurposeDrill {
		t.Errorf("an old simulated run is a %s", p)
	}
	if p := (RunMeta{}).RunPurpose(); p != PurposeIncident {
		t.Errorf("an old real run is a %s", p)
	}
}

// TestBuildInfoString checks how a build is named in the report.
func TestBuildInfoString(t *testing.T) {
	b := BuildInfo{Version: "v1.4.0", Revision: "3fa2c1d4e5f60718293a4b5c6d7e8f9012345678",
		Time: time.Date(2026, 11, 23, 8, 15, 0, 0, time.UTC), Dirty: true}
	if got, want := b.String(), "v1.4.0 (3fa2c1d4e5f6, 2026-11-23 08:15 UTC, dirty)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	b.Version, b.Dirty = "v0.0.0-20261123081500-3fa2c1d4e5f6", false
	if got, want := b.String(), "v0.0.0-20261123081500-3fa2c1d4e5f6 (2026-11-23 08:15 UTC)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := (BuildInfo{Version: "(devel)"}).String(); got != "(devel)" {
		t.Errorf("%q", got)
	}
	if b := ReadBuildInfo("v9.9.9"); b.Version != "v9.9.9" || !strings.HasPrefix(b.Go, "go1.") {
		t.Errorf("a version set at link time: %+v", b)
	}
}
