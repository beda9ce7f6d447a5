package messagesight

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// takeBackup writes a complete, sealed backup set of ms1 (with its store
// when withStore) through the operations, as the backup runbook does.
func takeBackup(t *testing.T, r *rig, withStore bool) string {
	t.Helper()
	set := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "ms1-store"})
	exp := r.must("messagesight.export-config", runbook.Args{"file": "cfg-" + filepath.Base(set.Vars["path"]), "password": plantedBackupPW})
	r.must("messagesight.download", runbook.Args{"file": exp.Vars["file"], "dest": set.Vars["config_dir"]})
	if withStore {
		rs := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
		r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
		r.must("messagesight.backup-store", runbook.Args{"dest": set.Vars["store"]})
		rs = r.must("messagesight.restart", runbook.Args{"maintenance": "stop"})
		r.must("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	}
	r.must("messagesight.seal-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"})
	return set.Vars["path"]
}

// TestBackupsListsEverySet: `drillbook backups` sees the sealed sets with
// their parts and sizes, an interrupted one with its problem, newest first.
func TestBackupsListsEverySet(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	full := takeBackup(t, r, true)
	time.Sleep(1100 * time.Millisecond) // set names have one-second resolution
	cfgOnly := takeBackup(t, r, false)
	time.Sleep(1100 * time.Millisecond)
	broken := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "ms1-store"}).Vars["path"]

	sets, err := Backups(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 3 {
		t.Fatalf("%d sets listed, want 3: %+v", len(sets), sets)
	}
	want := []struct {
		path   string
		sealed bool
		parts  []string
	}{{broken, false, nil}, {cfgOnly, true, []string{"configuration"}}, {full, true, []string{"configuration", "store (3 files)"}}}
	for i, w := range want {
		s := sets[i]
		if s.Path != w.path || s.Name != filepath.Base(w.path) || s.Sealed != w.sealed || s.Product != "messagesight" {
			t.Errorf("set %d: %+v, want %s sealed=%v", i, s, w.path, w.sealed)
		}
		if s.Taken.IsZero() || time.Since(s.Taken) > time.Minute {
			t.Errorf("set %s taken at %v", s.Name, s.Taken)
		}
		var names []string
		for _, p := range s.Parts {
			names = append(names, p.Name)
			if p.Size <= 0 {
				t.Errorf("set %s part %s has size %d", s.Name, p.Name, p.Size)
			}
		}
		if strings.Join(names, ",") != strings.Join(w.parts, ",") {
			t.Errorf("set %s parts %q, want %q", s.Name, names, w.parts)
		}
	}
	if !strings.Contains(sets[0].Problem, "incomplete") {
		t.Errorf("interrupted set's problem: %q", sets[0].Problem)
	}
	d, _ := DigestTree(ctx, r.srv.StoreDir())
	if sets[2].Parts[1].Size != d.Bytes || sets[2].Parts[1].Path != "ms1-store" {
		t.Errorf("store part %+v, the store holds %d bytes", sets[2].Parts[1], d.Bytes)
	}

	if _, err := Backups(ctx, Config{}); err == nil || !strings.Contains(err.Error(), "set messagesight.backup_root") {
		t.Errorf("no backup root: %v", err)
	}
	missing := r.cfg
	missing.BackupRoot = filepath.Join(t.TempDir(), "nowhere")
	if _, err := Backups(ctx, missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "messagesight.backup_root") {
		t.Errorf("missing backup root: %v", err)
	}
}

// TestPreflightChecks: the read-only checks the runbooks run before
// anything changes find an unreachable store, a store with no room for the
// restore's copy, a backup root that is a file and one without room, and
// say what they measured when all is well.
func TestPreflightChecks(t *testing.T) {
	r := newRig(t)
	full := takeBackup(t, r, true)
	time.Sleep(1100 * time.Millisecond)
	cfgOnly := takeBackup(t, r, false)

	res := r.must("messagesight.check-store", runbook.Args{"restore_set": full})
	if res.Vars["need_bytes"] == "" || !strings.Contains(res.Summary, "bytes free on the file system of") {
		t.Errorf("restore of a store copy: %+v", res)
	}
	res = r.must("messagesight.check-store", runbook.Args{"restore_set": cfgOnly})
	if !strings.Contains(res.Summary, "holds no store copy") {
		t.Errorf("restore of a configuration-only set: %s", res.Summary)
	}
	// The newest sealed set of ms1 is the configuration-only one.
	if res := r.must("messagesight.check-store", runbook.Args{"restore_from": "ms1"}); !strings.Contains(res.Summary, "holds no store copy") {
		t.Errorf("newest set of ms1: %s", res.Summary)
	}

	gone := r.cfg
	gone.Nodes = map[string]Server{"ms1": {URL: r.srv.URL(), StoreDir: "/nonexistent/ms1/store"}}
	g := newRigFor(t, r.srv, gone)
	for _, op := range []string{"messagesight.check-store", "messagesight.check-backup-root"} {
		_, _, err := g.run(op, runbook.Args{"node": "ms1", "restore_set": full})
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/ms1/store") || !strings.Contains(err.Error(), "messagesight.nodes.ms1.store_dir") {
			t.Errorf("%s with an unreachable store: %v", op, err)
		}
	}

	res = r.must("messagesight.check-backup-root", runbook.Args{"node": "ms1"})
	d, _ := DigestTree(context.Background(), r.srv.StoreDir())
	if res.Vars["need_bytes"] != itoa(d.Bytes) || !strings.Contains(res.Summary, "the store of ms1 needs "+itoa(d.Bytes)+" bytes") {
		t.Errorf("backup root check: %+v (store %d bytes)", res, d.Bytes)
	}
	if _, _, err := r.run("messagesight.check-backup-root", runbook.Args{"need_bytes": int64(1) << 60}); err == nil || !strings.Contains(err.Error(), "free space there or choose another backup_dir") {
		t.Errorf("no room: %v", err)
	}
	file := filepath.Join(t.TempDir(), "afile")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, root := range []string{file, full} {
		if _, _, err := r.run("messagesight.check-backup-root", runbook.Args{"root": root}); err == nil {
			t.Errorf("backup root %s accepted", root)
		}
	}
	if res := r.must("messagesight.check-backup-root", runbook.Args{"root": filepath.Join(t.TempDir(), "new", "root")}); !strings.Contains(res.Summary, "will be created as a directory") {
		t.Errorf("missing root: %s", res.Summary)
	}
}

// TestRestartOnlyFromTheStateRequired: the compensating restart of a
// finally step is sent only when the server is in the state the step
// expects; otherwise nothing is sent and the error says what the server
// reports.
func TestRestartOnlyFromTheStateRequired(t *testing.T) {
	r := newRig(t)
	before, _ := strconv.Atoi(r.must("messagesight.status", runbook.Args{}).Vars["uptime_seconds"])
	_, _, err := r.run("messagesight.restart", runbook.Args{"maintenance": "stop", "require_state": "maintenance"})
	if err == nil || !strings.Contains(err.Error(), "not restarted: the server is in state 1 (Running (production)), not maintenance (9)") {
		t.Fatalf("restart of a server in production required in maintenance: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(r.srv.Dir(), "requests.log"))
	if strings.Contains(string(log), "/service/restart") {
		t.Errorf("a restart was sent:\n%s", log)
	}
	time.Sleep(1100 * time.Millisecond)
	if after, _ := strconv.Atoi(r.must("messagesight.status", runbook.Args{}).Vars["uptime_seconds"]); after < before+1 || r.state() != 1 {
		t.Errorf("the server restarted: uptime %d then %d", before, after)
	}
	rs := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	rs = r.must("messagesight.restart", runbook.Args{"maintenance": "stop", "require_state": "maintenance"})
	r.must("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestStoreBackupName: the operator names the store backup (seed 001,
// "Backup and restore"); a name that is not one safe file name, or that
// could be taken for the configuration backup imaBackup.hhmmss-MMDDYYYY,
// stops the run in the preflight with the parameter to change; a set
// written before the name was asked for (store/) is still found, checked
// and listed, and a set with two candidate store copies is refused.
func TestStoreBackupName(t *testing.T) {
	r := newRig(t)
	for _, bad := range []string{"../up", "a/b", ".hidden", "imaBackup.101010-12032026", "IMABACKUP", "config", "manifest.json", "Sealed", "INCOMPLETE", "with space", strings.Repeat("n", 201)} {
		_, _, err := r.run("messagesight.check-backup-root", runbook.Args{"store_name": bad})
		if err == nil || !strings.Contains(err.Error(), "store_backup_name parameter") {
			t.Errorf("store name %q in the preflight: %v", bad, err)
		}
		if _, _, err := r.run("messagesight.new-backup-set", runbook.Args{"store_name": bad}); err == nil {
			t.Errorf("store name %q accepted by new-backup-set", bad)
		}
	}
	if _, _, err := r.run("messagesight.new-backup-set", runbook.Args{}); err == nil || !strings.Contains(err.Error(), "has no name") {
		t.Errorf("no store name: %v", err)
	}
	entries, _ := os.ReadDir(r.cfg.BackupRoot)
	if len(entries) != 0 {
		t.Errorf("refused names created %d sets", len(entries))
	}

	// A set as an older drillbook wrote it: the store copy is store/.
	legacy := takeBackup(t, r, true)
	if err := os.Rename(filepath.Join(legacy, "ms1-store"), filepath.Join(legacy, "store")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(legacy, setManifest))
	os.Remove(filepath.Join(legacy, setSealed))
	r.must("messagesight.seal-backup-set", runbook.Args{"set": legacy, "server": "ms1"})
	found := r.must("messagesight.find-backup-set", runbook.Args{"set": legacy, "server": "ms1"})
	if found.Vars["store"] != filepath.Join(legacy, "store") || found.Vars["has_store"] != "true" || found.Vars["store_sha256"] == "" {
		t.Errorf("legacy set: %v", found.Vars)
	}
	if res := r.must("messagesight.check-store", runbook.Args{"restore_set": legacy}); res.Vars["need_bytes"] == "" {
		t.Errorf("legacy set's store copy not measured: %+v", res)
	}
	sets, err := Backups(context.Background(), r.cfg)
	if err != nil || len(sets) != 1 || len(sets[0].Parts) != 2 || sets[0].Parts[1].Path != "store" || !sets[0].Sealed {
		t.Errorf("legacy set listed as %+v (%v)", sets, err)
	}

	// A second directory beside the store copy of a sealed set is one the
	// manifest does not name: refused, never taken for the store.
	time.Sleep(1100 * time.Millisecond) // set names have one-second resolution
	set := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "nightly"})
	if set.Vars["store"] != filepath.Join(set.Vars["path"], "nightly") {
		t.Errorf("store copy of the new set at %s", set.Vars["store"])
	}
	exp := r.must("messagesight.export-config", runbook.Args{"file": "cfg-two", "password": plantedBackupPW})
	r.must("messagesight.download", runbook.Args{"file": exp.Vars["file"], "dest": set.Vars["config_dir"]})
	os.MkdirAll(filepath.Join(set.Vars["path"], "nightly"), 0o755)
	os.MkdirAll(filepath.Join(set.Vars["path"], "other"), 0o755)
	if _, _, err := r.run("messagesight.seal-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"}); err == nil || !strings.Contains(err.Error(), "nightly, other") {
		t.Errorf("set with two store copies sealed: %v", err)
	}
}
