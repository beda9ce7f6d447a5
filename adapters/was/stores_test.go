package was

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

func opsByName(ops []runbook.Operation) map[string]runbook.Operation {
	m := map[string]runbook.Operation{}
	for _, op := range ops {
		m[op.Spec().Name] = op
	}
	return m
}

func TestSpecsWorkWithoutTarget(t *testing.T) {
	ops := opsByName(Operations(Config{}))
	want := map[string]bool{
		"was.engine-state": false, "was.find-engine-host": false, "was.stop-engine": false, "was.start-engine": false,
		"was.set-initial-state": false, "was.save-sync": false, "was.start-server": false, "was.stop-server": false,
		"was.backup-config": false, "was.restore-config": true, "was.backup-filestore": false, "was.restore-filestore": true,
		"was.backup-datastore": false, "was.restore-datastore": true, "was.seal-backup": false,
	}
	if len(ops) != len(want) {
		t.Errorf("%d operations, want %d", len(ops), len(want))
	}
	for name, destructive := range want {
		op, ok := ops[name]
		if !ok {
			t.Errorf("no operation %s", name)
			continue
		}
		if op.Spec().Destructive != destructive {
			t.Errorf("%s destructive = %t", name, op.Spec().Destructive)
		}
	}
	if _, err := ops["was.backup-datastore"].Plan(runbook.Call{Args: runbook.Args{"engine": "ME1", "dir": "/b"}}); err == nil || !strings.Contains(err.Error(), "set was.data_store.backup in targets.yaml") {
		t.Errorf("data store plan without a command: %v", err)
	}
}

func writeFileStore(t *testing.T, root, engine, tag string) (string, string) {
	t.Helper()
	logDir, storeDir := filepath.Join(root, engine, "log"), filepath.Join(root, engine, "store")
	for name, dir := range map[string]string{"Log": logDir, "PermanentStore": storeDir, "TemporaryStore": storeDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+" "+tag), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return logDir, storeDir
}

func TestFileStoreBackupAndRestore(t *testing.T) {
	ops := opsByName(Operations(Config{}))
	root, set := t.TempDir(), t.TempDir()
	logDir, storeDir := writeFileStore(t, root, "ME1", "v1")
	args := runbook.Args{"engine": "ME1", "log_dir": logDir, "store_dir": storeDir, "dest": set}
	res, err := ops["was.backup-filestore"].Run(context.Background(), runbook.Call{Args: args}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evidence) != 3 {
		t.Errorf("evidence %v", res.Evidence)
	}
	writeFileStore(t, root, "ME1", "v2 newer")
	rargs := runbook.Args{"engine": "ME1", "log_dir": logDir, "store_dir": storeDir, "from": set}
	if _, err := ops["was.restore-filestore"].Run(context.Background(), runbook.Call{Args: rargs}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(logDir, "Log"), filepath.Join(storeDir, "PermanentStore"), filepath.Join(storeDir, "TemporaryStore")} {
		b, _ := os.ReadFile(p)
		if !strings.HasSuffix(string(b), " v1") {
			t.Errorf("%s = %q after restore", p, b)
		}
	}
	// A damaged backup file is refused before anything is overwritten.
	os.WriteFile(filepath.Join(set, "ME1", "filestore", "store", "TemporaryStore"), []byte("bit rot"), 0o644)
	writeFileStore(t, root, "ME1", "v3")
	_, err = ops["was.restore-filestore"].Run(context.Background(), runbook.Call{Args: rargs}, nil)
	if err == nil || !strings.Contains(err.Error(), "changed since it was taken") {
		t.Fatalf("damaged backup: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(logDir, "Log")); string(b) != "Log v3" {
		t.Errorf("Log was touched by a refused restore: %q", b)
	}
}

func TestFileStoreBackupRefusesPartialSet(t *testing.T) {
	ops := opsByName(Operations(Config{}))
	root, set := t.TempDir(), t.TempDir()
	logDir, storeDir := writeFileStore(t, root, "ME1", "v1")
	os.Remove(filepath.Join(storeDir, "TemporaryStore"))
	_, err := ops["was.backup-filestore"].Run(context.Background(), runbook.Call{Args: runbook.Args{"engine": "ME1", "log_dir": logDir, "store_dir": storeDir, "dest": set}}, nil)
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), "TemporaryStore") {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(set); len(ents) != 0 {
		t.Errorf("a partial backup left %d entries", len(ents))
	}
}

func TestDataStoreCommandsKeepSecretsOffTheCommandLine(t *testing.T) {
	set := t.TempDir()
	t.Setenv("TEST_DB_PASSWORD", "db-s3cret")
	cfg := Config{DataStore: DataStoreConfig{
		Backup:    []string{"sh", "-c", `printf '%s|%s|%s' "$1" "$2" "$DBPW" > "$3/dump"`, "sh", "{{ .engine }}", "{{ .schema }}", "{{ .dir }}"},
		Restore:   []string{"sh", "-c", `test "$(cat "$1/dump")" = "ME1|IBMWSSIB|$DBPW"`, "sh", "{{ .dir }}"},
		SecretEnv: map[string]runbook.SecretRef{"DBPW": {Env: "TEST_DB_PASSWORD"}},
	}}
	ops := opsByName(Operations(cfg))
	call := runbook.Call{Args: runbook.Args{"engine": "ME1", "dir": set}}
	p, err := ops["was.backup-datastore"].Plan(call)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(p.Argv, " "), "s3cret") || !strings.Contains(strings.Join(p.Argv, " "), filepath.Join(set, "ME1", "datastore")) {
		t.Errorf("plan argv %q", p.Argv)
	}
	var lines []string
	out := runbook.OutputFunc(func(_ runbook.Stream, s string) { lines = append(lines, s) })
	if _, err := ops["was.backup-datastore"].Run(context.Background(), call, out); err != nil {
		t.Fatal(err)
	}
	if _, err := ops["was.restore-datastore"].Run(context.Background(), call, out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(lines, "\n"), "s3cret") {
		t.Errorf("secret in output: %v", lines)
	}
	m, _ := ReadManifest(set)
	if len(m.Parts) != 1 || m.Parts[0].Kind != "datastore" || len(m.Parts[0].Files) != 1 {
		t.Errorf("manifest %+v", m)
	}
}

func TestSealWarnsWhenPartsAreFarApart(t *testing.T) {
	set := t.TempDir()
	os.WriteFile(filepath.Join(set, "config.zip"), []byte("zip"), 0o644)
	n, sum, _ := sumFile(context.Background(), filepath.Join(set, "config.zip"))
	now := time.Now().UTC()
	m := Manifest{Parts: []Part{
		{Kind: "config", Name: "config.zip", TakenAt: now.Add(-2 * time.Hour), Files: []FileSum{{Path: "config.zip", Size: n, SHA256: sum}}},
		{Kind: "datastore", Name: "ME1", TakenAt: now, Files: []FileSum{{Path: "config.zip", Size: n, SHA256: sum}}},
	}}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(set, ManifestName), b, 0o644)
	ops := opsByName(Operations(Config{}))
	res, err := ops["was.seal-backup"].Run(context.Background(), runbook.Call{Args: runbook.Args{"dir": set, "max_skew": 10 * time.Minute}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "2h0m0s apart") {
		t.Errorf("warnings %v", res.Warnings)
	}
	_, err = ops["was.seal-backup"].Run(context.Background(), runbook.Call{Args: runbook.Args{"dir": set, "require": []string{"filestore"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "no filestore part") {
		t.Errorf("require: %v", err)
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
				t.Errorf("%s: no training value for %s", n, p.Name)
				continue
			}
			if _, err := runbook.ResolveParams(&runbook.Runbook{Params: []runbook.Param{p}}, map[string]string{p.Name: v}); err != nil {
				t.Errorf("%s: training value of %s: %v", n, p.Name, err)
			}
		}
		for _, st := range rb.Steps {
			if st.Source.Doc == "" || st.Source.Section == "" {
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
