package was

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

func TestSpecsWorkWithoutTarget(t *testing.T) {
	ops := opsByName(Operations(Config{}))
	// The object each destructive operation is confirmed with, and the
	// operations that change nothing (the only ones preflight and plan
	// run).
	destructive := map[string]string{
		"was.stop-engine": "engine", "was.stop-server": "server", "was.stop-manager": "cell",
		"was.restore-config": "cell", "was.restore-filestore": "engine", "was.restore-datastore": "engine",
	}
	readOnly := []string{"was.engine-state", "was.find-engine-host", "was.server-status", "was.manager-status", "was.node-status",
		"was.check-connection", "was.check-profile", "was.check-filestore", "was.check-datastore-command", "was.check-backup-root", "was.check-backup-set",
		"was.check-store-access", "was.read-ha-policy"}
	if len(ops) != 32 {
		t.Errorf("%d operations, want 32", len(ops))
	}
	for name, op := range ops {
		sp := op.Spec()
		if obj := destructive[name]; sp.Destructive != (obj != "") || sp.Object != obj {
			t.Errorf("%s: destructive %t, object %q; want %t, %q", name, sp.Destructive, sp.Object, obj != "", obj)
		}
		if sp.ReadOnly != slices.Contains(readOnly, name) {
			t.Errorf("%s: read-only %t", name, sp.ReadOnly)
		}
		if sp.ReadOnly && sp.Destructive {
			t.Errorf("%s is read-only and destructive", name)
		}
	}
	if _, err := ops["was.backup-datastore"].Plan(runbook.Call{Args: runbook.Args{"engine": "ME1", "set": "/b"}}); err == nil || !strings.Contains(err.Error(), "set was.data_store.backup in targets.yaml") {
		t.Errorf("data store plan without a command: %v", err)
	}
}

func TestFileStoreBackupAndRestore(t *testing.T) {
	e := newFakeEstate(t, "ok")
	logDir, storeDir := writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v1")
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	args := runbook.Args{"engine": "node02.server2-Bus1", "log_dir": logDir, "store_dir": storeDir, "set": set}
	res := e.must("was.backup-filestore", args)
	if len(res.Evidence) != 3 {
		t.Errorf("evidence %v", res.Evidence)
	}
	// A second backup of the same engine into the same set is refused.
	if _, _, err := e.run("was.backup-filestore", args, 30*time.Second); err == nil {
		t.Error("a second file store backup into the same set was accepted")
	}
	e.must("was.seal-backup", runbook.Args{"set": set, "filestore_engines": []string{"node02.server2-Bus1"}})
	writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v2 newer")
	e.must("was.stop-engine", runbook.Args{"engine": "node02.server2-Bus1"})
	e.must("was.restore-filestore", args)
	for _, p := range []string{filepath.Join(logDir, "Log"), filepath.Join(storeDir, "PermanentStore"), filepath.Join(storeDir, "TemporaryStore")} {
		b, _ := os.ReadFile(p)
		if !strings.HasSuffix(string(b), " v1") {
			t.Errorf("%s = %q after restore", p, b)
		}
	}
	// A damaged backup file is refused before anything is overwritten.
	os.WriteFile(filepath.Join(set, "node02.server2-Bus1", "filestore", "store", "TemporaryStore"), []byte("bit rot"), 0o644)
	writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v3")
	_, _, err := e.run("was.restore-filestore", args, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "changed since it was taken") {
		t.Fatalf("damaged backup: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(logDir, "Log")); string(b) != "Log v3" {
		t.Errorf("Log was touched by a refused restore: %q", b)
	}
}

func TestFileStoreBackupRefusesPartialStore(t *testing.T) {
	e := newFakeEstate(t, "ok")
	logDir, storeDir := writeFileStore(t, e.fileStores, "ME1", "v1")
	os.Remove(filepath.Join(storeDir, "TemporaryStore"))
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	_, _, err := e.run("was.backup-filestore", runbook.Args{"engine": "ME1", "log_dir": logDir, "store_dir": storeDir, "set": set}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), "TemporaryStore") {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(set); len(ents) != 1 {
		t.Errorf("a partial backup left %d entries beside the manifest", len(ents)-1)
	}
	// The set stays unsealed, and Backups says so.
	if _, _, err := e.run("was.seal-backup", runbook.Args{"set": set, "filestore_engines": []string{"ME1"}}, 30*time.Second); err == nil {
		t.Error("a set without its file store was sealed")
	}
	sets, err := Backups(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].Sealed || sets[0].Problem == "" {
		t.Errorf("Backups = %+v", sets)
	}
}

// The data store commands get the database password in their
// environment, and nothing else does; no command line holds it.
func TestDataStoreCommandsKeepSecretsOffTheCommandLine(t *testing.T) {
	e := newFakeEstate(t, "ok")
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	call := runbook.Call{Args: runbook.Args{"engine": "clu1.000-Bus1", "set": set}}
	p, err := e.ops["was.backup-datastore"].Plan(call)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(p.Argv, " "), plantedDBPassword) || !strings.Contains(strings.Join(p.Argv, " "), filepath.Join(set, "clu1.000-Bus1", "datastore")) {
		t.Errorf("plan argv %q", p.Argv)
	}
	_, out1, err := e.run("was.backup-datastore", call.Args, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.must("was.backup-config", runbook.Args{"set": set})
	e.must("was.seal-backup", runbook.Args{"set": set, "datastore_engines": []string{"clu1.000-Bus1"}})
	e.must("was.stop-engine", runbook.Args{"engine": "clu1.000-Bus1"})
	res, out2, err := e.run("was.restore-datastore", call.Args, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	if !strings.Contains(res.Summary, "data store of clu1.000-Bus1 restored") || !strings.Contains(out2, "restored clu1.000-Bus1") {
		t.Errorf("restore: %q\n%s", res.Summary, out2)
	}
	for _, o := range []string{out1, out2} {
		if strings.Contains(o, plantedDBPassword) || strings.Contains(o, plantedPassword) {
			t.Errorf("secret in output:\n%s", o)
		}
	}
	m, _ := ReadManifest(context.Background(), here(), set)
	if p, ok := m.findPart("datastore", "clu1.000-Bus1"); !ok || len(p.Files) != 1 {
		t.Errorf("manifest %+v", m)
	}
	// Each data store command had DBPW, and no variable holding the
	// administrative password; TEST_DB_PASSWORD, where the target reads
	// it from, was blanked.
	ds, _ := os.ReadFile(e.dsLog)
	if n := strings.Count(string(ds), ": DBPW="+plantedDBPassword+"\n"); n != 2 {
		t.Errorf("DBPW reached %d data store commands, want 2", n)
	}
	if strings.Contains(string(ds), plantedPassword) || strings.Contains(string(ds), "TEST_DB_PASSWORD="+plantedDBPassword) {
		t.Errorf("a data store command's environment holds another secret:\n%s", ds)
	}
}

func TestSealWarnsWhenPartsAreFarApart(t *testing.T) {
	e := newFakeEstate(t, "ok")
	set, m, err := newSet(context.Background(), here(), e.cfg.BackupRoot, "c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(set, "config.zip"), []byte("zip"), 0o644)
	n, sum, _ := sumFile(context.Background(), here(), filepath.Join(set, "config.zip"))
	now := time.Now().UTC()
	m.Parts = []Part{
		{SetID: m.SetID, Kind: "config", Name: "config.zip", TakenAt: now.Add(-2 * time.Hour), Files: []FileSum{{Path: "config.zip", Size: n, SHA256: sum}}},
		{SetID: m.SetID, Kind: "datastore", Name: "ME1", TakenAt: now, Files: []FileSum{{Path: "config.zip", Size: n, SHA256: sum}}},
	}
	if err := writeManifest(context.Background(), here(), set, m); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.run("was.seal-backup", runbook.Args{"set": set, "require": []string{"filestore"}}, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no filestore part") {
		t.Errorf("require: %v", err)
	}
	res := e.must("was.seal-backup", runbook.Args{"set": set, "max_skew": 10 * time.Minute})
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "2h0m0s apart") {
		t.Errorf("warnings %v", res.Warnings)
	}
}

// TestTrainingParamsCoverEveryRunbook checks that `drillbook run ID
// --target training` needs no --param for any shipped WebSphere runbook.
func TestTrainingParamsCoverEveryRunbook(t *testing.T) {
	zero := 0.0
	tr, err := StartTrainingWith(context.Background(), t.TempDir(), TrainingOptions{DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(runbooks.FS, "was-*.yaml")
	if len(names) != 3 {
		t.Fatalf("%d WebSphere runbooks shipped, want 3: %v", len(names), names)
	}
	for _, n := range names {
		data, _ := runbooks.FS.ReadFile(n)
		rb, err := runbook.Parse(n, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rb.Params {
			v, ok := tr.Params[p.Name]
			if !ok {
				if p.Required {
					t.Errorf("%s: no training value for %s", n, p.Name)
				}
				continue
			}
			if _, err := runbook.ResolveParams(&runbook.Runbook{Params: []runbook.Param{p}}, map[string]string{p.Name: v}); err != nil {
				t.Errorf("%s: training value of %s: %v", n, p.Name, err)
			}
		}
		for _, ss := range rb.AllSteps() {
			if st := ss.Step; st.Source.Doc == "" || st.Source.Section == "" {
				t.Errorf("%s: step %s cites no source", n, st.ID)
			}
		}
	}
}

func TestStartTrainingKeepsTheCellAcrossRestarts(t *testing.T) {
	zero := 0.0
	dir := t.TempDir()
	tr, err := StartTrainingWith(context.Background(), dir, TrainingOptions{Scenario: "flush-fails", DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Cell.SetInitialState(context.Background(), "Bus1", "clu1.000-Bus1", "STOPPED"); err != nil {
		t.Fatal(err)
	}
	tr2, err := StartTraining(context.Background(), dir, "flush-fails")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tr2.Cell.Load()
	if s.Master["clu1.000-Bus1"] != "STOPPED" {
		t.Errorf("a restarted drillbook found a new cell")
	}
	if _, err := StartTraining(context.Background(), dir, "no-such"); err == nil || !strings.Contains(err.Error(), "wsadmin-hangs") {
		t.Errorf("unknown scenario: %v", err)
	}
}
