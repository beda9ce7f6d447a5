package was

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The safety of a real target, end to end through the built binary: a
// target in targets.yaml built from the fake estate (fake-wsadmin, the
// profile tools of fake-tool), no --yes, every confirmation typed with
// --confirm. A missing backup set, an unset secret, a mistyped target, a
// wrong cell or engine stop before anything changes; a backup never
// overwrites an earlier one; the planted passwords appear nowhere.

// writeTargets writes targets.yaml (JSON, which YAML reads) for the
// estate as target fake-cell and returns its path.
func (e *fakeEstate) writeTargets() string {
	e.t.Helper()
	c := e.cfg
	nodes := map[string]any{}
	for n, p := range c.Nodes {
		nodes[n] = map[string]any{"profile_root": p.ProfileRoot, "profile_name": p.ProfileName}
	}
	was := map[string]any{
		"cell": c.Cell, "wsadmin": c.Wsadmin, "profile_root": c.ProfileRoot, "profile_name": c.ProfileName,
		"nodes": nodes, "host": c.Host, "port": c.Port, "user": c.User, "password": map[string]string{"env": c.Password.Env},
		"state_wait": "3s", "recovery_poll": "1s", "backup_root": c.BackupRoot,
		"data_store": map[string]any{
			"backup": c.DataStore.Backup, "restore": c.DataStore.Restore, "env": c.DataStore.Env,
			"secret_env": map[string]any{"DBPW": map[string]string{"env": "TEST_DB_PASSWORD"}},
		},
	}
	params := map[string]any{
		"cell": "c1", "bus": "Bus1", "engines": []string{"clu1.000-Bus1"}, "datastore_engines": []string{"clu1.000-Bus1"},
		"nodes": []string{"node01", "node02"}, "servers": []string{"node01/server1", "node02/server2"},
		"server_logs":       []string{filepath.Join(c.Nodes["node01"].ProfileRoot, "logs", "server1", "SystemOut.log"), filepath.Join(c.Nodes["node02"].ProfileRoot, "logs", "server2", "SystemOut.log")},
		"dmgr_log":          filepath.Join(c.ProfileRoot, "logs", "dmgr", "SystemOut.log"),
		"backup_datastores": true,
		"engine":            "clu1.000-Bus1",
		"cluster_logs":      []string{filepath.Join(c.Nodes["node01"].ProfileRoot, "logs", "server1", "SystemOut.log"), filepath.Join(c.Nodes["node02"].ProfileRoot, "logs", "server2", "SystemOut.log")},
	}
	// fake-cell-noroot is the same estate with a backup root that does
	// not exist.
	noRoot := map[string]any{}
	for k, v := range was {
		noRoot[k] = v
	}
	noRoot["backup_root"] = filepath.Join(e.dir, "no-such-dir")
	b, err := json.MarshalIndent(map[string]any{"targets": map[string]any{
		"fake-cell":        map[string]any{"description": "the fake estate of the was tests", "params": params, "was": was},
		"fake-cell-noroot": map[string]any{"description": "the fake estate without its backup root", "params": params, "was": noRoot},
	}}, "", "  ")
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "targets.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func TestRealTargetStopsBeforeAnyChangeAndLeaksNoSecret(t *testing.T) {
	e := newFakeEstate(t, "ok")
	targets := e.writeTargets()
	state := t.TempDir()
	var outputs []string
	run := func(args ...string) e2eRun {
		t.Helper()
		r := runDrillbook(t, state, append(args, "--targets", targets)...)
		outputs = append(outputs, r.out)
		return r
	}
	backup := []string{"run", "was-sib-backup", "--plain", "--target", "fake-cell",
		"--confirm", "quiet-traffic=done", "--confirm", "resume-traffic=done",
		"--confirm", "stop-servers=server1", "--confirm", "stop-servers=server2"}

	// Two backups: two sets, the first left as it was.
	r := run(backup...)
	if r.code != 0 || !strings.Contains(r.out, "run: succeeded") {
		t.Fatalf("first backup: exit %d\n%s", r.code, r.out)
	}
	sets, _ := filepath.Glob(filepath.Join(e.cfg.BackupRoot, "2*"))
	if len(sets) != 1 {
		t.Fatalf("%d sets after one backup", len(sets))
	}
	firstManifest, _ := os.ReadFile(filepath.Join(sets[0], ManifestName))
	firstArchive, _ := os.ReadFile(filepath.Join(sets[0], configArchive))
	r = run(backup...)
	if r.code != 0 {
		t.Fatalf("second backup: exit %d\n%s", r.code, r.out)
	}
	sets, _ = filepath.Glob(filepath.Join(e.cfg.BackupRoot, "2*"))
	if len(sets) != 2 {
		t.Fatalf("%d sets after two backups, want 2: %v", len(sets), sets)
	}
	if b, _ := os.ReadFile(filepath.Join(sets[0], ManifestName)); string(b) != string(firstManifest) {
		t.Error("the second backup changed the first set's manifest")
	}
	if b, _ := os.ReadFile(filepath.Join(sets[0], configArchive)); string(b) != string(firstArchive) {
		t.Error("the second backup changed the first set's archive")
	}
	listed, err := Backups(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || !listed[0].Sealed || !listed[1].Sealed || listed[0].Path != sets[1] {
		t.Errorf("Backups = %+v", listed)
	}
	// Both runs stopped and started server1 and server2, and changed
	// nothing else.
	baseline := e.mutations()
	if c := e.cell(); !c.Servers["server1"]["running"].(bool) || !c.Servers["server2"]["running"].(bool) {
		t.Errorf("the backup left servers stopped: %v", c.Servers)
	}

	restore := []string{"run", "was-sib-restore-me", "--plain", "--target", "fake-cell"}
	drill := []string{"run", "was-sib-ha-failover-drill", "--plain", "--target", "fake-cell", "--confirm", "failover=server1"}
	refused := []struct {
		name string
		cmd  []string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"restore from a missing backup set", restore, []string{"--param", "backup_set=20990101T000000Z"}, nil, 1, "20990101T000000Z"},
		{"restore with the database password unset", restore, nil, map[string]string{"TEST_DB_PASSWORD": ""}, 1, "was.data_store.secret_env.DBPW"},
		{"restore of another cell", restore, []string{"--param", "cell=c2"}, nil, 1, "wsadmin is connected to cell c1, not c2"},
		{"restore of a mistyped engine", restore, []string{"--param", "engines=clu9.000-Bus1"}, nil, 1, "no messaging engine clu9.000-Bus1 in the configuration of cell c1"},
		{"restore on a mistyped target", restore, []string{"--target", "fake-cel"}, nil, 2, "fake-cel"},
		{"backup with the database password unset", backup, nil, map[string]string{"TEST_DB_PASSWORD": ""}, 1, "was.data_store.secret_env.DBPW"},
		{"backup without its backup root", backup, []string{"--target", "fake-cell-noroot"}, nil, 1, "no-such-dir"},
		{"backup on a mistyped target", backup, []string{"--target", "fake-cel"}, nil, 2, "fake-cel"},
		{"drill of another cell", drill, []string{"--param", "cell=c2"}, nil, 1, "wsadmin is connected to cell c1, not c2"},
		{"drill of a mistyped engine", drill, []string{"--param", "engine=clu9.000-Bus1"}, nil, 1, "no messaging engine clu9.000-Bus1 in the configuration of cell c1"},
		{"drill on a mistyped target", drill, []string{"--target", "fake-cel"}, nil, 2, "fake-cel"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append(slices.Clone(tc.cmd), tc.args...)
			r := run(args...)
			if r.code != tc.code || !strings.Contains(r.out, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", r.code, tc.code, tc.want, r.out)
			}
			if tc.code == 1 && !strings.Contains(r.out, "preflight") {
				t.Errorf("not stopped in preflight:\n%s", r.out)
			}
			if strings.Contains(r.out, "\n  confirmed: ") || strings.Contains(r.out, "\nstep initial-stopped") || strings.Contains(r.out, "\nstep newset") || strings.Contains(r.out, "\nstep failover") {
				t.Errorf("a step past the preflight ran:\n%s", r.out)
			}
			if got := e.mutations(); !slices.Equal(got, baseline) {
				t.Errorf("the refused restore changed the estate: %v", got[len(baseline):])
			}
		})
	}

	// A restore that passes the preflight confirms its outages with the
	// cell's and the engine's names; one confirmed with another cell's
	// name stops at that step. (The fake cell writes no engine logs, so
	// this restore is not run to its end.)
	r = run(append(slices.Clone(restore), "--confirm", "stop-engine=clu1.000-Bus1", "--confirm", "restore-datastore=clu1.000-Bus1",
		"--confirm", "stop-manager=c2")...)
	if r.code != 3 || !strings.Contains(r.out, "stopped: step stop-manager: the --confirm token does not match: nothing was run") {
		t.Errorf("restore with a wrong cell token: exit %d\n%s", r.code, r.out)
	}
	if !e.cell().Dmgr["running"].(bool) {
		t.Error("the deployment manager was stopped with the wrong cell's name")
	}
	if e.cell().Restored != 0 {
		t.Error("restoreConfig ran")
	}

	// Reports of every run.
	for _, id := range runIDs(outputs) {
		rep := runDrillbook(t, state, "report", id)
		outputs = append(outputs, rep.out)
	}

	// The planted passwords, raw and in the properties file's escaped
	// form, appear in no output, report, journal, command line or
	// environment; the database password only in the data store
	// commands' environment.
	for _, o := range outputs {
		checkAbsent(t, "drillbook output", o, plantedPassword, plantedEscaped, plantedDBPassword)
	}
	filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			checkAbsent(t, p, string(b), plantedPassword, plantedEscaped, plantedDBPassword)
		}
		return nil
	})
	for _, f := range []string{e.wsadminLog, e.toolLog, e.envLog} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, f, string(b), plantedPassword, plantedEscaped, plantedDBPassword)
	}
	ds, _ := os.ReadFile(e.dsLog)
	checkAbsent(t, e.dsLog, string(ds), plantedPassword, plantedEscaped)
	if n := strings.Count(string(ds), "DBPW="+plantedDBPassword+"\n"); n != 3 {
		t.Errorf("the database password reached %d data store commands, want 3 (two backups, one restore)", n)
	}
	if strings.Contains(string(ds), "TEST_DB_PASSWORD="+plantedDBPassword) {
		t.Error("a data store command inherited the variable the target reads the password from")
	}
	progs := map[string]int{}
	for _, r := range e.envRecords() {
		progs[r.Prog]++
	}
	if progs["wsadmin"] < 1 || progs["backupConfig"] != 2 {
		t.Errorf("processes whose environment was checked: %v", progs)
	}
}

func checkAbsent(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("%q appears in %s: ...%s...", s, where, text[max(0, i-80):min(len(text), i+len(s)+40)])
		}
	}
}

func runIDs(outputs []string) []string {
	var ids []string
	for _, o := range outputs {
		for _, l := range strings.Split(o, "\n") {
			if id, ok := strings.CutPrefix(l, "run: "); ok && !strings.Contains(id, " ") && strings.Count(id, "-") >= 2 {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
