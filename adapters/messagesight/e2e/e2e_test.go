// Package e2e runs the shipped MessageSight runbooks to the end with the
// drillbook binary in plain mode on the training target, in every scenario,
// and checks what an operator would see: exit codes, the stop message, the
// emulated store's contents and that no password leaks anywhere.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
)

// binary is the drillbook executable built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drillbook-ms-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "drillbook")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binary, "github.com/drillbook/drillbook/cmd/drillbook")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building drillbook:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The passwords the training target uses; none may appear in any output,
// journal, report or request log.
var passwords = []string{"training-backup-pw", "training-admin-pw", "not-the-export-password"}

type run struct {
	code   int
	output string
}

func drillbook(t *testing.T, state string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--state-dir", state}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("drillbook %s: no end within 3 minutes:\n%s", strings.Join(args, " "), out.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("drillbook: %v", err)
		}
		code = ee.ExitCode()
	}
	return run{code: code, output: out.String()}
}

func runbookRun(t *testing.T, state, id, scenario string, params ...string) run {
	args := []string{"run", id, "--plain", "--target", "training", "--yes", "--scenario", scenario}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	return drillbook(t, state, args...)
}

func messages(t *testing.T, state, server string) emulator.StoreSummary {
	t.Helper()
	s, err := emulator.ReadStore(filepath.Join(state, "training", "messagesight", server, "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requestLog(t *testing.T, state, server string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "training", "messagesight", server, "requests.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noPasswords looks for the training passwords in the outputs, every
// journal and report of the state directory, and the request logs.
func noPasswords(t *testing.T, state string, runs ...run) {
	t.Helper()
	var all strings.Builder
	for _, r := range runs {
		all.WriteString(r.output)
	}
	list := drillbook(t, state, "runs")
	for _, line := range strings.Split(list.output, "\n")[1:] {
		id, _, _ := strings.Cut(line, " ")
		if id == "" {
			continue
		}
		all.WriteString(drillbook(t, state, "report", id).output)
		all.WriteString(drillbook(t, state, "report", id, "--format", "json").output)
	}
	files := 0
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "admin.pw" {
			return nil // admin.pw is the training target's secret store itself
		}
		if strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".log") || strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".json") {
			b, _ := os.ReadFile(p)
			all.Write(b)
			files++
		}
		return nil
	})
	if files < 4 || !strings.Contains(all.String(), `"Password":"***"`) {
		t.Fatalf("only %d files read: nothing to prove the passwords are absent from", files)
	}
	for _, pw := range passwords {
		if strings.Contains(all.String(), pw) {
			t.Errorf("password %q appears in the output, a journal, a report or a request log", pw)
		}
	}
}

func TestNormal(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	b := runbookRun(t, state, "messagesight-backup", "normal")
	if b.code != 0 || !strings.HasSuffix(strings.TrimSpace(b.output), "run: succeeded") {
		t.Fatalf("backup exit %d:\n%s", b.code, b.output)
	}
	mans, _ := filepath.Glob(filepath.Join(state, "training", "messagesight", "backups", "imaBackup.*.manifest.json"))
	stores, _ := filepath.Glob(filepath.Join(state, "training", "messagesight", "backups", "imaBackup.*.store"))
	if len(mans) != 1 || len(stores) != 1 {
		t.Fatalf("backup dir holds %d manifests and %d store copies, want 1 and 1", len(mans), len(stores))
	}
	if s, _ := emulator.ReadStore(stores[0]); s.Messages != 5 {
		t.Errorf("store backup holds %d messages, want 5", s.Messages)
	}
	// Restore with the backup the run just made, after traffic has changed
	// the store: the store comes back as it was at the backup.
	config := strings.TrimSuffix(mans[0], ".manifest.json")
	if err := os.WriteFile(filepath.Join(state, "training", "messagesight", "ms1", "store", "com.ibm.ism", "queues", "LATE.msg"), []byte("late-1\nlate-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runbookRun(t, state, "messagesight-restore", "normal", "config_backup="+config, "manifest="+mans[0], "store_backup="+stores[0])
	if r.code != 0 || !strings.Contains(r.output, "step restore-store: succeeded") || !strings.Contains(r.output, "step clean-store: skipped") {
		t.Fatalf("restore exit %d:\n%s", r.code, r.output)
	}
	if s := messages(t, state, "ms1"); s.Messages != 5 || s.Subscriptions != 2 || s.Clients != 3 {
		t.Errorf("after restore ms1 holds %+v, want 5 messages, 2 subscriptions, 3 clients", s)
	}
	// Without a store backup the store is cleaned.
	c := runbookRun(t, state, "messagesight-restore", "normal", "store_backup=")
	if c.code != 0 || !strings.Contains(c.output, "step clean-store: succeeded") || !strings.Contains(c.output, "step restore-store: skipped") {
		t.Fatalf("restore without store exit %d:\n%s", c.code, c.output)
	}
	if s := messages(t, state, "ms1"); s != (emulator.StoreSummary{}) {
		t.Errorf("after clean store ms1 holds %+v", s)
	}
	noPasswords(t, state, b, r, c)
}

func TestSlowRestart(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	b := runbookRun(t, state, "messagesight-backup", "slow-restart")
	r := runbookRun(t, state, "messagesight-restore", "slow-restart")
	for _, x := range []run{b, r} {
		if x.code != 0 || !strings.Contains(x.output, "not answering (restarting)") {
			t.Fatalf("exit %d, or the refused connections were not seen:\n%s", x.code, x.output)
		}
	}
	noPasswords(t, state, b, r)
}

func TestWrongPasswordStopsBeforeAnythingChanges(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	r := runbookRun(t, state, "messagesight-restore", "wrong-password")
	if r.code == 0 || !strings.Contains(r.output, "CWLNA6231") || !strings.Contains(r.output, "the backup password is wrong: give the password the configuration was exported with") {
		t.Fatalf("exit %d:\n%s", r.code, r.output)
	}
	for _, never := range []string{"step enter-maintenance", "step import", "step clean-store", "step restore-store"} {
		if strings.Contains(r.output, never) {
			t.Errorf("%s ran after the wrong password", never)
		}
	}
	if s := messages(t, state, "ms1"); s.Messages != 5 {
		t.Errorf("ms1 holds %d messages after the refused restore, want 5 (nothing cleaned)", s.Messages)
	}
	log := requestLog(t, state, "ms1")
	if strings.Contains(log, "/service/restart") || strings.Contains(log, `"ApplyConfig":true`) {
		t.Errorf("the server was restarted or changed:\n%s", log)
	}
	noPasswords(t, state, r)
}

func TestMismatchedStoreBackupIsRefused(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	r := runbookRun(t, state, "messagesight-restore", "mismatched-store")
	if r.code == 0 || !strings.Contains(r.output, "backup does not match its manifest") || !strings.Contains(r.output, "a store may only be restored with its own configuration backup") {
		t.Fatalf("exit %d:\n%s", r.code, r.output)
	}
	if strings.Contains(r.output, "step check-server") {
		t.Error("the run went on after the refused backup")
	}
	if log := requestLog(t, state, "ms1"); strings.Contains(log, "/service/restart") || strings.Contains(log, "/service/import") || strings.Contains(log, "PUT /ima/v1/file") {
		t.Errorf("the server was touched:\n%s", log)
	}
	if s := messages(t, state, "ms1"); s.Messages != 5 {
		t.Errorf("ms1 holds %d messages, want 5", s.Messages)
	}
}

func TestStandbyUnsyncedHAPair(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	b := runbookRun(t, state, "messagesight-backup", "standby-unsynced")
	if b.code != 0 || !strings.Contains(b.output, "HA UNSYNC") || !strings.Contains(b.output, "step copystore: succeeded") {
		t.Fatalf("backup on the standby exit %d:\n%s", b.code, b.output)
	}
	if strings.Contains(requestLog(t, state, "ms-a"), "/service/restart") {
		t.Error("the backup restarted the primary")
	}
	r := runbookRun(t, state, "messagesight-restore", "standby-unsynced")
	if r.code != 0 || !strings.Contains(r.output, "step wait-pair-sync: succeeded") {
		t.Fatalf("HA restore exit %d:\n%s", r.code, r.output)
	}
	order := []string{"step clean-standby: succeeded", "step leave-maintenance: succeeded", "step standby-production: succeeded", "STANDBY with 2 of 2 nodes in sync"}
	pos := 0
	for _, o := range order {
		i := strings.Index(r.output[pos:], o)
		if i < 0 {
			t.Fatalf("%q missing or out of order:\n%s", o, r.output)
		}
		pos += i
	}
	if s := messages(t, state, "ms-a"); s.Messages != 5 {
		t.Errorf("restored primary holds %d messages, want 5", s.Messages)
	}
	noPasswords(t, state, b, r)
}

// TestKilledDuringARestartResumes kills drillbook (and with it the
// emulated servers) while ms1 restarts out of maintenance, then resumes:
// the server is found as a real one would be, the step in flight is
// reconciled by its verify, and the run ends.
func TestKilledDuringARestartResumes(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	var out syncBuffer
	cmd := exec.Command(binary, "--state-dir", state, "run", "messagesight-restore", "--plain", "--target", "training", "--yes", "--scenario", "slow-restart")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "step leave-maintenance: succeeded") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("leave-maintenance never finished:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if strings.Contains(out.String(), "run: succeeded") {
		t.Fatal("the run ended before it could be killed")
	}
	r := drillbook(t, state, "resume", "last", "--plain", "--yes")
	if r.code != 0 || !strings.Contains(r.output, "step wait-production: reconciled as succeeded: verify passed after resume") || !strings.HasSuffix(strings.TrimSpace(r.output), "run: succeeded") {
		t.Fatalf("resume exit %d:\n%s", r.code, r.output)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
