package messagesight

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
	"github.com/drillbook/drillbook/runbook"
)

const (
	plantedAdminPW  = "PLANTED-admin-7f3a"
	plantedBackupPW = "PLANTED-backup-91c2"
)

// rig is an emulated server with Basic auth and an adapter bound to it. It
// records every line, plan, result and error the adapter produced, so a
// test can look for a planted password in all of them.
type rig struct {
	t   testing.TB
	srv *emulator.Server
	cfg Config
	ops map[string]runbook.Operation

	mu    sync.Mutex
	trail []string
}

func newRig(t testing.TB) *rig {
	t.Helper()
	return newRigTimed(t, fastTiming())
}

// newRigTimed is newRig with the emulator's timing given.
func newRigTimed(t testing.TB, timing emulator.Timing) *rig {
	t.Helper()
	dir := t.TempDir()
	srv, err := emulator.Start(context.Background(), emulator.Options{Dir: filepath.Join(dir, "ms"), Name: "ms1",
		User: "admin", Password: plantedAdminPW, Timing: timing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	pw := filepath.Join(dir, "admin.pw")
	if err := os.WriteFile(pw, []byte(plantedAdminPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: srv.URL(), User: "admin", Password: runbook.SecretRef{File: pw}, Timeout: 5 * time.Second,
		Nodes: map[string]Server{"ms1": {URL: srv.URL(), StoreDir: srv.StoreDir(), Host: "host1"}}, BackupRoot: filepath.Join(dir, "backups")}
	r := newRigFor(t, srv, cfg)
	waitUp(t, srv, emulator.StateProduction)
	return r
}

// fastTiming is the emulator's real timing about fifty times faster, with
// restarts long enough (over a second) to be told apart by start time.
func fastTiming() emulator.Timing {
	return emulator.Timing{RestartDelay: 60 * time.Millisecond, Shutdown: 40 * time.Millisecond, StartupStop: 200 * time.Millisecond,
		Supervisor: 1100 * time.Millisecond, Init: 40 * time.Millisecond, StoreRecovery: 80 * time.Millisecond,
		EngineRecovery: 60 * time.Millisecond, Step: 20 * time.Millisecond, Sync: 150 * time.Millisecond, Scale: 0.001}
}

// waitUp waits until the emulated server reports a state.
func waitUp(t testing.TB, srv *emulator.Server, state int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for srv.State() != state {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached state %d", srv.Name(), state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newRigFor(t testing.TB, srv *emulator.Server, cfg Config) *rig {
	r := &rig{t: t, srv: srv, cfg: cfg, ops: map[string]runbook.Operation{}}
	for _, o := range Operations(cfg) {
		r.ops[o.Spec().Name] = o
	}
	return r
}

func (r *rig) record(s string) {
	r.mu.Lock()
	r.trail = append(r.trail, s)
	r.mu.Unlock()
}

// run plans and runs one operation, recording everything it shows.
func (r *rig) run(name string, args runbook.Args) (runbook.Result, []string, error) {
	r.t.Helper()
	o, ok := r.ops[name]
	if !ok {
		r.t.Fatalf("no operation %s", name)
	}
	if _, has := args["node"]; !has {
		if _, takes := o.Spec().Arg("node"); takes && r.cfg.Nodes["ms1"].URL != "" {
			args = maps.Clone(args)
			args["node"] = "ms1"
		}
	}
	call := runbook.Call{Op: name, Args: args, Step: "s", Phase: runbook.PhaseAction, Attempt: 1}
	p, err := o.Plan(call)
	if err != nil {
		r.t.Fatalf("plan %s: %v", name, err)
	}
	r.record(p.Summary() + " " + p.Detail)
	var lines []string
	var lmu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := o.Run(ctx, call, runbook.OutputFunc(func(_ runbook.Stream, text string) {
		lmu.Lock()
		lines = append(lines, text)
		lmu.Unlock()
		r.record(text)
	}))
	r.record(fmt.Sprintf("%+v", res))
	if err != nil {
		r.record(err.Error())
	}
	return res, lines, err
}

func (r *rig) must(name string, args runbook.Args) runbook.Result {
	r.t.Helper()
	res, _, err := r.run(name, args)
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	return res
}

func (r *rig) state() int {
	r.t.Helper()
	res := r.must("messagesight.status", runbook.Args{})
	var n int
	fmt.Sscan(res.Vars["state"], &n)
	return n
}

func TestSpecsWorkOnZeroConfig(t *testing.T) {
	destructive := map[string]bool{}
	seen := map[string]bool{}
	for _, o := range Operations(Config{}) {
		s := o.Spec()
		if !strings.HasPrefix(s.Name, "messagesight.") || seen[s.Name] {
			t.Errorf("bad or duplicate name %q", s.Name)
		}
		seen[s.Name] = true
		if s.Destructive {
			destructive[s.Name] = true
		}
		p, err := o.Plan(runbook.Call{Op: s.Name, Args: runbook.Args{"password": plantedBackupPW, "file": "f"}})
		if err != nil {
			t.Errorf("%s: plan on a zero config: %v", s.Name, err)
		}
		if strings.Contains(p.Summary()+p.Detail, plantedBackupPW) {
			t.Errorf("%s: plan shows the password: %s", s.Name, p.Summary())
		}
	}
	if len(seen) != 18 {
		t.Errorf("%d operations, want 18", len(seen))
	}
	want := map[string]bool{"messagesight.clean-store": true, "messagesight.import-config": true, "messagesight.restore-store": true, "messagesight.restart": true}
	if fmt.Sprint(destructive) != fmt.Sprint(want) {
		t.Errorf("destructive ops %v, want %v", destructive, want)
	}
	o := Operations(Config{})[0]
	if _, err := o.Run(context.Background(), runbook.Call{Op: o.Spec().Name, Args: runbook.Args{}}, runbook.OutputFunc(func(runbook.Stream, string) {})); err == nil || !strings.Contains(err.Error(), "set messagesight.url in targets.yaml") {
		t.Errorf("run with no target: %v", err)
	}
}

func TestRestartIntoMaintenanceAndBack(t *testing.T) {
	// The server stays in its stopping state for two seconds, so the
	// wait's polls see it even on a loaded machine (at fastTiming's 40 ms
	// one slow poll missed it).
	timing := fastTiming()
	timing.Shutdown = 2 * time.Second
	r := newRigTimed(t, timing)
	res := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	if !strings.Contains(res.Evidence[0], `"Code":"CWLNA6011"`) {
		t.Errorf("evidence %q", res.Evidence)
	}
	res, lines, err := r.run("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": res.Vars["previous_start"], "every": 20 * time.Millisecond, "timeout": 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Vars["state"] != "9" || !strings.Contains(res.Summary, "Running (maintenance)") {
		t.Errorf("result %+v", res)
	}
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, "not answering (restarting)") || !strings.Contains(joined, "Stopping, state 2") {
		t.Errorf("the wait did not see the restart's stopping state and refused connections:\n%s", joined)
	}
	if _, _, err := r.run("messagesight.status", runbook.Args{"expect_state": "production"}); err == nil ||
		!strings.Contains(err.Error(), "state 9 (Running (maintenance)), not production (1)") {
		t.Errorf("expect_state production in maintenance: %v", err)
	}
	res = r.must("messagesight.restart", runbook.Args{"maintenance": "stop"})
	r.must("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": res.Vars["previous_start"], "every": 20 * time.Millisecond})
	if r.state() != 1 {
		t.Error("not back in production")
	}
}

// TestWaitCountsOnlyARealRestart: after an applied import the server says
// State 9 before and after a restart; the wait returns only once the start
// time has moved, and reports the states in between.
func TestWaitCountsOnlyARealRestart(t *testing.T) {
	r := newRig(t)
	res := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": res.Vars["previous_start"], "every": 20 * time.Millisecond})
	r.must("messagesight.export-config", runbook.Args{"file": "c.bak", "password": plantedBackupPW})
	r.must("messagesight.import-config", runbook.Args{"file": "c.bak", "password": plantedBackupPW})
	// Until its process restarts, the server says State 9 with ErrorCode
	// 145: the very state the wait is for.
	if st := r.must("messagesight.status", runbook.Args{}); st.Vars["state"] != "9" || st.Vars["error_code"] != "145" {
		t.Fatalf("after the applied import: state %s, ErrorCode %s; want 9 and 145", st.Vars["state"], st.Vars["error_code"])
	}
	clean := r.must("messagesight.clean-store", runbook.Args{})
	w, lines, err := r.run("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": clean.Vars["previous_start"], "every": 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Only the new process reports no ErrorCode.
	if w.Vars["error_code"] != "0" {
		t.Errorf("the wait took the forced State 9 for the restart: ErrorCode %s:\n%s", w.Vars["error_code"], strings.Join(lines, "\n"))
	}
	if sum, _ := r.srv.Store(); sum != (emulator.StoreSummary{}) {
		t.Errorf("store after the clean store: %+v", sum)
	}
}

// TestWaitStopsWithTheServersOwnError: a server that never leaves State 2,
// and one that comes back in maintenance with an ErrorCode, each stop the
// wait with the code and message and the next action.
func TestWaitStopsWithTheServersOwnError(t *testing.T) {
	r := newRig(t)
	if err := r.srv.FailNextStart(501); err != nil {
		t.Fatal(err)
	}
	res := r.must("messagesight.restart", runbook.Args{})
	_, _, err := r.run("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": res.Vars["previous_start"], "every": 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `came back in maintenance (State 9) instead of production: ErrorCode 501 "Store data is unrecoverable."`) || !strings.Contains(err.Error(), "nothing after this step was run") {
		t.Errorf("maintenance with an error: %v", err)
	}
	if err := r.srv.HangNextStop(); err != nil {
		t.Fatal(err)
	}
	res = r.must("messagesight.restart", runbook.Args{"maintenance": "stop"})
	_, _, err = r.run("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": res.Vars["previous_start"], "every": 20 * time.Millisecond, "stopping_limit": 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "reported State 2 (Stopping) for") || !strings.Contains(err.Error(), "restart it from its platform") {
		t.Errorf("stuck in State 2: %v", err)
	}
	if _, _, err := r.run("messagesight.restart", runbook.Args{}); err == nil || !strings.Contains(err.Error(), "already stopping (State 2)") {
		t.Errorf("a restart joined a pending one: %v", err)
	}
}

func TestWaitStateTimesOut(t *testing.T) {
	r := newRig(t)
	start := time.Now()
	_, _, err := r.run("messagesight.wait-state", runbook.Args{"state": "standby", "every": 20 * time.Millisecond, "timeout": 300 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not in state 10 (standby) after 300ms") {
		t.Errorf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the wait ignored its timeout")
	}
}

func TestExportDownloadUploadPreviewImport(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	res := r.must("messagesight.export-config", runbook.Args{"password": plantedBackupPW})
	if !regexp.MustCompile(`^imaBackup\.[A-Za-z0-9_-]+\.\d{6}-\d{8}$`).MatchString(res.Vars["file"]) {
		t.Errorf("default export name %q", res.Vars["file"])
	}
	dl := r.must("messagesight.download", runbook.Args{"file": res.Vars["file"], "dest": dir})
	data, err := os.ReadFile(filepath.Join(dir, res.Vars["file"]))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if dl.Vars["sha256"] != hex.EncodeToString(sum[:]) || dl.Vars["size"] != fmt.Sprint(len(data)) {
		t.Errorf("download vars %v", dl.Vars)
	}
	up := r.must("messagesight.upload", runbook.Args{"src": dl.Vars["path"], "file": "restore.bak"})
	if up.Vars["file"] != "restore.bak" {
		t.Errorf("upload vars %v", up.Vars)
	}
	_, lines, err := r.run("messagesight.preview-import", runbook.Args{"file": "restore.bak", "password": plantedBackupPW})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "Queue: ORDERS") {
		t.Errorf("preview lines %q", lines)
	}
	// A wrong password stops before anything changes.
	_, _, err = r.run("messagesight.import-config", runbook.Args{"file": "restore.bak", "password": "wrong-one"})
	var api *APIError
	if !errors.As(err, &api) || api.Code != "CWLNA6231" || !strings.Contains(err.Error(), "give the password the configuration was exported with") {
		t.Fatalf("wrong password: %v", err)
	}
	if r.state() != 1 {
		t.Fatal("a refused import changed the server's state")
	}
	r.must("messagesight.import-config", runbook.Args{"file": "restore.bak", "password": plantedBackupPW, "disable_objects": false})
	st := r.must("messagesight.status", runbook.Args{})
	if st.Vars["state"] != "9" || st.Vars["error_code"] != "145" || len(st.Warnings) != 1 {
		t.Errorf("after apply: %v %v", st.Vars, st.Warnings)
	}
	// Missing file: mapped to "upload it first".
	_, _, err = r.run("messagesight.preview-import", runbook.Args{"file": "absent.bak", "password": plantedBackupPW})
	if !errors.As(err, &api) || api.Code != "CWLNA6223" || !strings.Contains(err.Error(), "upload it first") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := r.run("messagesight.download", runbook.Args{"file": "absent.bak", "dest": dir}); !errors.As(err, &api) || api.Status != 404 || api.Code != "CWLNA0113" {
		t.Errorf("download of a missing file: %v", err)
	}
}

func TestCleanStoreWipesTheStore(t *testing.T) {
	r := newRig(t)
	before, _ := r.srv.Store()
	if before.Messages != 5 {
		t.Fatalf("seeded store %+v", before)
	}
	cs := r.must("messagesight.clean-store", runbook.Args{})
	r.must("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": cs.Vars["previous_start"], "every": 20 * time.Millisecond})
	after, _ := r.srv.Store()
	if after != (emulator.StoreSummary{}) {
		t.Errorf("store after clean: %+v", after)
	}
}

func TestBackupSetStoreCopyAndRestore(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	store := r.srv.StoreDir()
	set := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "ms1-store"})
	dest := set.Vars["store"]
	if _, _, err := r.run("messagesight.backup-store", runbook.Args{"dest": dest}); err == nil ||
		!strings.Contains(err.Error(), "only be copied or replaced in maintenance mode") {
		t.Fatalf("copy in production: %v", err)
	}
	rs := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	bk := r.must("messagesight.backup-store", runbook.Args{"dest": dest})
	d, err := DigestTree(ctx, store)
	if err != nil || bk.Vars["sha256"] != d.SHA256 || bk.Vars["files"] != "3" {
		t.Fatalf("backup vars %v, store digest %+v %v", bk.Vars, d, err)
	}
	// A rerun of the step finds its own copy and keeps it.
	if again := r.must("messagesight.backup-store", runbook.Args{"dest": dest}); !strings.Contains(again.Summary, "already copied") {
		t.Errorf("rerun: %s", again.Summary)
	}
	exp := r.must("messagesight.export-config", runbook.Args{"file": "c.bak", "password": plantedBackupPW})
	r.must("messagesight.download", runbook.Args{"file": exp.Vars["file"], "dest": set.Vars["config_dir"]})
	// Not sealed yet: refused, unless overridden with a reason.
	if _, _, err := r.run("messagesight.find-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("unsealed set: %v", err)
	}
	ov := r.must("messagesight.find-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1", "override_reason": "drill of an unsealed set"})
	if len(ov.Warnings) != 1 || !strings.Contains(ov.Warnings[0], "drill of an unsealed set") {
		t.Errorf("override warnings %q", ov.Warnings)
	}
	r.must("messagesight.seal-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"})
	found := r.must("messagesight.find-backup-set", runbook.Args{"server": "ms1"})
	if found.Vars["path"] != set.Vars["path"] || found.Vars["store_sha256"] != d.SHA256 || found.Vars["store"] != filepath.Join(set.Vars["path"], "ms1-store") {
		t.Fatalf("newest sealed set %v", found.Vars)
	}
	// The root of an earlier backup, or a file, is refused as backup root.
	for _, root := range []string{set.Vars["path"], filepath.Join(set.Vars["config_dir"], exp.Vars["file"])} {
		if _, _, err := r.run("messagesight.new-backup-set", runbook.Args{"root": root, "store_name": "ms1-store"}); err == nil {
			t.Errorf("backup root %s accepted", root)
		}
	}
	// A store swapped into the sealed set is refused (identity, not bytes).
	r.srv.PutMessages("ORDERS", "later")
	other := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "ms1-store"})
	r.must("messagesight.backup-store", runbook.Args{"dest": other.Vars["store"]})
	os.RemoveAll(dest)
	os.Rename(other.Vars["store"], dest)
	if _, _, err := r.run("messagesight.find-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "a store may only be restored with its own configuration backup") {
		t.Errorf("swapped store: %v", err)
	}
	if _, _, err := r.run("messagesight.restore-store", runbook.Args{"src": dest, "sha256": d.SHA256}); !errors.Is(err, ErrMismatch) {
		t.Errorf("restore of the wrong store: %v", err)
	}
	if got, _ := r.srv.Store(); got.Messages != 6 {
		t.Fatalf("a refused restore changed the store: %+v", got)
	}
	// Leftovers of an interrupted restore are removed, then the restore runs.
	left := filepath.Join(filepath.Dir(store), "."+filepath.Base(store)+".restoring")
	os.MkdirAll(filepath.Join(left, "half"), 0o755)
	res, lines, err := r.run("messagesight.restore-store", runbook.Args{"src": found.Vars["store"] + "-none", "sha256": ""})
	if err == nil {
		t.Fatalf("restore from a missing backup: %v %v", res, lines)
	}
	good := filepath.Join(t.TempDir(), "good")
	copyTree(ctx, dest, good, runbook.OutputFunc(func(runbook.Stream, string) {}))
	_, lines, err = r.run("messagesight.restore-store", runbook.Args{"src": good})
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "left by an interrupted copy") {
		t.Fatalf("restore after an interrupted one: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if _, err := os.Stat(left); err == nil {
		t.Error("the leftover is still there")
	}
}

// TestRestoreActsOnlyOnTheServerNamed: a restore aimed at ms2 takes ms2's
// store directory and checks that ms2 is in maintenance: with ms1 in
// maintenance and ms2 in production it is refused, and ms1's store is not
// touched; its plan names the store, the server and the host.
func TestRestoreActsOnlyOnTheServerNamed(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	ms2, err := emulator.Start(context.Background(), emulator.Options{Dir: filepath.Join(dir, "ms2"), Name: "ms2", Timing: fastTiming()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms2.Close() })
	waitUp(t, ms2, emulator.StateProduction)
	cfg := r.cfg
	cfg.Nodes = map[string]Server{"ms1": r.cfg.Nodes["ms1"], "ms2": {URL: ms2.URL(), StoreDir: ms2.StoreDir(), Host: "host2"}}
	r = newRigFor(t, r.srv, cfg)
	rs := r.must("messagesight.restart", runbook.Args{"node": "ms1", "maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"node": "ms1", "state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	backup := filepath.Join(dir, "backup")
	copyTree(context.Background(), r.srv.StoreDir(), backup, runbook.OutputFunc(func(runbook.Stream, string) {}))
	os.WriteFile(filepath.Join(backup, "com.ibm.ism", "queues", "ORDERS.msg"), []byte("x\n"), 0o644)
	p, _ := r.ops["messagesight.restore-store"].Plan(runbook.Call{Args: runbook.Args{"node": "ms2", "src": backup}})
	if !strings.Contains(p.Detail, "store "+ms2.StoreDir()+" of server ms2 on host host2") {
		t.Errorf("plan: %s", p.Detail)
	}
	before, _ := DigestTree(context.Background(), r.srv.StoreDir())
	for _, op := range []string{"messagesight.restore-store", "messagesight.backup-store"} {
		_, _, err := r.run(op, runbook.Args{"node": "ms2", "src": backup, "dest": filepath.Join(dir, "copy")})
		if err == nil || !strings.Contains(err.Error(), "ms2: the server is in state 1") {
			t.Errorf("%s on ms2 in production: %v", op, err)
		}
	}
	if after, _ := DigestTree(context.Background(), r.srv.StoreDir()); after != before {
		t.Error("ms1's store changed")
	}
	for _, op := range []string{"messagesight.restart", "messagesight.clean-store", "messagesight.import-config"} {
		p, _ := r.ops[op].Plan(runbook.Call{Args: runbook.Args{"node": "ms2", "file": "f", "password": "x"}})
		if !strings.Contains(p.Summary()+p.Detail, "ms2") || strings.Contains(p.Summary(), r.srv.URL()) {
			t.Errorf("%s plan for ms2 names another server: %s %s", op, p.Summary(), p.Detail)
		}
	}
}

func TestStoreCopyCommandFromTarget(t *testing.T) {
	r := newRig(t)
	r.cfg.StoreCopy = []string{"cp", "-R", "{src}", "{dst}"}
	r = newRigFor(t, r.srv, r.cfg)
	rs := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	dest := filepath.Join(t.TempDir(), "copy")
	o := r.ops["messagesight.backup-store"]
	p, _ := o.Plan(runbook.Call{Args: runbook.Args{"node": "ms1", "dest": dest}})
	if len(p.Argv) != 4 || p.Argv[2] != r.srv.StoreDir() || p.Argv[3] != dest {
		t.Errorf("plan argv %q", p.Argv)
	}
	res := r.must("messagesight.backup-store", runbook.Args{"dest": dest})
	if res.ExitCode != 0 {
		t.Errorf("exit code %d", res.ExitCode)
	}
	if s, _ := emulator.ReadStore(dest); s.Messages != 5 {
		t.Errorf("copy holds %d messages", s.Messages)
	}
}

func TestHAStatusOfAPair(t *testing.T) {
	dir := t.TempDir()
	fast := func(n string) emulator.Options {
		return emulator.Options{Dir: filepath.Join(dir, n), Name: n, Timing: fastTiming()}
	}
	a, b, err := emulator.StartPair(context.Background(), "G", fast("a"), fast("b"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	cfg := Config{Nodes: map[string]Server{"a": {URL: a.URL()}, "b": {URL: b.URL()}}}
	r := newRigFor(t, a, cfg)
	w := r.must("messagesight.wait-state", runbook.Args{"node": "b", "state": "standby", "role": "STANDBY", "sync_nodes": int64(2), "every": 20 * time.Millisecond})
	if w.Vars["ha_role"] != "STANDBY" {
		t.Errorf("wait vars %v", w.Vars)
	}
	res := r.must("messagesight.ha-status", runbook.Args{"node": "a", "expect_role": "PRIMARY", "expect_sync_nodes": int64(2)})
	if res.Vars["ha_sync_nodes"] != "2" {
		t.Errorf("primary vars %v", res.Vars)
	}
	if _, _, err := r.run("messagesight.status", runbook.Args{"node": "c"}); err == nil || !strings.Contains(err.Error(), `node "c" is not in messagesight.nodes`) {
		t.Errorf("unknown node: %v", err)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	r := newRig(t)
	// Wrong admin password.
	bad := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(bad, []byte("not-it"), 0o600)
	cfg := r.cfg
	cfg.Password = runbook.SecretRef{File: bad}
	wrong := newRigFor(t, r.srv, cfg)
	_, _, err := wrong.run("messagesight.status", runbook.Args{})
	var api *APIError
	if !errors.As(err, &api) || api.Status != 401 || !strings.Contains(err.Error(), "check messagesight user and password in targets.yaml") {
		t.Errorf("wrong admin password: %v", err)
	}
	// There is no backup endpoint.
	c, err := newClient(r.cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.post(context.Background(), "/ima/v1/service/backup", map[string]any{"Password": plantedBackupPW})
	if !errors.As(err, &api) || api.Code != "CWLNA0137" || !strings.Contains(err.Error(), "there is no backup or restore endpoint") {
		t.Errorf("backup endpoint: %v", err)
	}
	// Clean store on a cluster member.
	if _, _, err := c.post(context.Background(), "/ima/v1/configuration", map[string]any{"ClusterMembership": map[string]any{"EnableClusterMembership": true}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.run("messagesight.clean-store", runbook.Args{}); !errors.As(err, &api) || api.Code != "CWLNA0384" || !strings.Contains(err.Error(), "remove it from the cluster first") {
		t.Errorf("clean store on a cluster member: %v", err)
	}
	// A server that is down.
	r.srv.Close()
	if _, _, err := r.run("messagesight.status", runbook.Args{}); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("server down: %v", err)
	}
	// Credentials in the URL are refused before anything is sent.
	cfg = r.cfg
	cfg.URL = "http://admin:" + plantedAdminPW + "@127.0.0.1:1"
	_, err = newClient(cfg, "")
	if err == nil || strings.Contains(err.Error(), plantedAdminPW) {
		t.Errorf("credentials in url: %v", err)
	}
}

// TestEveryReferenceCodeIsExplained checks that each CWLNA code of the
// reference's catalogue (§12, §6.4) maps to advice.
func TestEveryReferenceCodeIsExplained(t *testing.T) {
	codes := []string{"CWLNA6011", "CWLNA0010", "CWLNA0100", "CWLNA0102", "CWLNA0112", "CWLNA0113", "CWLNA0115", "CWLNA0127",
		"CWLNA0134", "CWLNA0137", "CWLNA0145", "CWLNA0180", "CWLNA0353", "CWLNA0372", "CWLNA0383", "CWLNA0384", "CWLNA0387",
		"CWLNA0401", "CWLNA0404", "CWLNA0510", "CWLNA6001", "CWLNA6121"}
	for n := 6213; n <= 6232; n++ {
		codes = append(codes, fmt.Sprintf("CWLNA%d", n))
	}
	for _, c := range codes {
		if Explain(c, 400) == "" {
			t.Errorf("%s has no explanation", c)
		}
	}
	if !strings.Contains(Explain("", 401), "password") {
		t.Error("401 without a code is not explained")
	}
}

func TestTLSWithCAFileAndPin(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"Version":"v1","Server":{"Name":"tls","State":1,"StateDescription":"Running (production)"}}`)
	}))
	defer ts.Close()
	cert := ts.Certificate()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	sum := sha256.Sum256(cert.Raw)
	pin := hex.EncodeToString(sum[:])
	status := func(s Server) error {
		r := newRigFor(t, nil, Config{URL: s.URL, CAFile: s.CAFile, PinSHA256: s.PinSHA256})
		_, _, err := r.run("messagesight.status", runbook.Args{})
		return err
	}
	if err := status(Server{URL: ts.URL}); err == nil {
		t.Error("an unknown CA was trusted")
	}
	if err := status(Server{URL: ts.URL, CAFile: ca}); err != nil {
		t.Errorf("CA file: %v", err)
	}
	colons := strings.ToUpper(regexp.MustCompile(`(..)`).ReplaceAllString(pin, "$1:"))
	if err := status(Server{URL: ts.URL, PinSHA256: strings.TrimSuffix(colons, ":")}); err != nil {
		t.Errorf("pinned certificate: %v", err)
	}
	wrongPin := strings.Repeat("ab", 32)
	if err := status(Server{URL: ts.URL, PinSHA256: wrongPin}); err == nil || !strings.Contains(err.Error(), "does not match pin_sha256") {
		t.Errorf("wrong pin: %v", err)
	}
	if err := status(Server{URL: ts.URL, PinSHA256: "xyz"}); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("malformed pin: %v", err)
	}
}

// TestPlantedPasswordsAppearNowhere runs every operation, successes and
// failures, and looks for the admin and backup passwords in the plans,
// output, results, errors and the emulator's request log.
func TestPlantedPasswordsAppearNowhere(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	exp := r.must("messagesight.export-config", runbook.Args{"file": "pw.bak", "password": plantedBackupPW})
	dl := r.must("messagesight.download", runbook.Args{"file": exp.Vars["file"], "dest": dir})
	r.must("messagesight.upload", runbook.Args{"src": dl.Vars["path"], "file": "pw2.bak"})
	r.must("messagesight.preview-import", runbook.Args{"file": "pw2.bak", "password": plantedBackupPW})
	r.run("messagesight.import-config", runbook.Args{"file": "pw2.bak", "password": plantedBackupPW + "x"})
	r.run("messagesight.export-config", runbook.Args{"file": "a/b", "password": plantedBackupPW})
	r.run("messagesight.export-config", runbook.Args{"password": " " + plantedBackupPW})
	r.must("messagesight.import-config", runbook.Args{"file": "pw2.bak", "password": plantedBackupPW})
	rs := r.must("messagesight.restart", runbook.Args{"maintenance": "stop"})
	r.must("messagesight.wait-state", runbook.Args{"state": "production", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	r.run("messagesight.ha-status", runbook.Args{}) // HA disabled: an error, recorded
	bad := filepath.Join(dir, "bad.pw")
	os.WriteFile(bad, []byte(plantedAdminPW+"-old"), 0o600)
	cfg := r.cfg
	cfg.Password = runbook.SecretRef{File: bad}
	wrong := newRigFor(t, r.srv, cfg)
	wrong.run("messagesight.status", runbook.Args{})
	log, err := r.srv.RequestLog()
	if err != nil {
		t.Fatal(err)
	}
	everything := strings.Join(append(append(r.trail, wrong.trail...), log...), "\n")
	if len(log) < 10 || !strings.Contains(everything, `"Password":"***"`) {
		t.Fatalf("too little was recorded to prove anything:\n%s", everything)
	}
	for _, pw := range []string{plantedAdminPW, plantedBackupPW} {
		if strings.Contains(everything, pw) {
			t.Errorf("%s appears:\n%s", pw, everything)
		}
	}
}
