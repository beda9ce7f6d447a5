package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/messagesight"
)

// bulkFiles is how many files the store gets, so that copying it (every
// file synced) takes long enough to be killed midway.
const bulkFiles = 3000

// startKilledMidCopy starts drillbook with args, waits until its store copy
// has copied 500 files (it says so), and kills it with SIGKILL. It returns
// what drillbook printed.
func (e *estate) startKilledMidCopy(t *testing.T, args ...string) string {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(binary, append([]string{"--state-dir", e.state, "--targets", e.targets}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = e.environ(nil)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "copied 500 files") {
		if time.Now().After(deadline) || strings.Contains(out.String(), "\nrun: ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the store copy never got under way:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return out.String()
}

// leftoversIn lists the hidden entries an interrupted copy leaves in dir.
func leftoversIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			out = append(out, en.Name())
		}
	}
	return out
}

// TestKilledMidStoreCopyIsCleanedOnRerun kills drillbook (SIGKILL, a real
// process) in the middle of the store copy of a backup and then of a
// restore: each leaves its partial copy behind, and the resumed run removes
// it and copies again, never refusing because of its own leftovers ("store
// already exists"); the finished backup and restore hold exactly the store.
func TestKilledMidStoreCopyIsCleanedOnRerun(t *testing.T) {
	t.Parallel()
	e := newEstate(t, "env", "")
	line := strings.Repeat("m", 8<<10)
	for i := 0; i < bulkFiles; i++ {
		writeFile(t, filepath.Join(e.ms1.StoreDir(), "com.ibm.ism", "queues", fmt.Sprintf("BULK%04d.msg", i)), line+"\n", 0o644)
	}
	ctx := context.Background()
	want, err := messagesight.DigestTree(ctx, e.ms1.StoreDir())
	if err != nil {
		t.Fatal(err)
	}

	// The backup, killed while it copies the store into the new set.
	// The operator names the store backup (seed 001): the copy, its
	// staging directory and the restore all go by that name.
	killed := e.startKilledMidCopy(t, backupArgs("--param", "store_backup_name=ms1-nightly")...)
	sets, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*"))
	if len(sets) != 1 {
		t.Fatalf("sets %v after the killed backup:\n%s", sets, killed)
	}
	left := leftoversIn(t, sets[0])
	if len(left) == 0 || !strings.HasPrefix(left[0], ".ms1-nightly.drillbook-") {
		t.Fatalf("the killed copy left %q in %s, want its staging directory", left, sets[0])
	}
	if _, err := os.Stat(filepath.Join(sets[0], "ms1-nightly")); err == nil {
		t.Fatal("the copy was complete before the kill: nothing was interrupted")
	}
	r := e.db(t, nil, "resume", "last", "--plain", "--confirm", "leavemaint=ms1", "--confirm", "endmaint=ms1", "--outcome", "copystore=rerun")
	succeeded(t, "resumed backup", r)
	if !strings.Contains(r.output, "left by an interrupted copy") || strings.Contains(r.output, "already exists") {
		t.Errorf("the rerun did not clean the leftover, or refused because of it:\n%s", r.output)
	}
	if left := leftoversIn(t, sets[0]); len(left) != 0 {
		t.Errorf("leftovers remain in the set: %q", left)
	}
	got, err := messagesight.DigestTree(ctx, filepath.Join(sets[0], "ms1-nightly"))
	if err != nil || got != want {
		t.Fatalf("the set's store copy is %+v (%v), the store %+v", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(sets[0], "SEALED")); err != nil {
		t.Fatalf("the resumed backup did not seal its set: %v", err)
	}

	// Traffic after the backup, then a restore killed while it copies the
	// set's store beside ms1's: the old store stays in place meanwhile.
	if err := e.ms1.PutMessages("LATE", "late-1"); err != nil {
		t.Fatal(err)
	}
	changed, _ := messagesight.DigestTree(ctx, e.ms1.StoreDir())
	parent := filepath.Dir(e.ms1.StoreDir())
	killed = e.startKilledMidCopy(t, restoreArgs()...)
	left = leftoversIn(t, parent)
	if len(left) == 0 {
		t.Fatalf("the killed restore left nothing beside the store:\n%s", killed)
	}
	if now, _ := messagesight.DigestTree(ctx, e.ms1.StoreDir()); now != changed {
		t.Fatal("the store was replaced before the copy was complete")
	}
	r = e.db(t, nil, "resume", "last", "--plain", "--confirm", "restore-store=ms1", "--confirm", "leavemaint=ms1",
		"--confirm", "serverback=ms1", "--outcome", "restore-store=rerun")
	succeeded(t, "resumed restore", r)
	if !strings.Contains(r.output, "left by an interrupted copy") || strings.Contains(r.output, "already exists") {
		t.Errorf("the rerun did not clean the leftover, or refused because of it:\n%s", r.output)
	}
	if left := leftoversIn(t, parent); len(left) != 0 {
		t.Errorf("leftovers remain beside the store: %q", left)
	}
	if got, _ := messagesight.DigestTree(ctx, e.ms1.StoreDir()); got != want {
		t.Errorf("the restored store is %+v, the backup %+v", got, want)
	}
}
