package file

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// TestMain lets the test binary act as a process that copies and is killed
// half way (see copyChild).
func TestMain(m *testing.M) {
	if mode := os.Getenv("DRILLBOOK_COPY_CHILD"); mode != "" {
		copyChild(mode, os.Args[len(os.Args)-2], os.Args[len(os.Args)-1])
		return
	}
	os.Exit(m.Run())
}

// copyChild copies src to dst and stops to be killed: "mid" after the
// tenth file, with the copy half staged; "placed" once the copy is in
// place, before anything records it; "replace-mid" like mid, replacing dst.
func copyChild(mode, src, dst string) {
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	progress := func(files int, _ int64) {
		fmt.Fprintf(out, "copied %d\n", files)
		out.Flush()
		if files == 10 && mode != "placed" {
			select {} // killed here
		}
	}
	_, err := Copy(ctx, src, dst, CopyOptions{Replace: mode == "replace-mid", Progress: progress})
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		out.Flush()
		os.Exit(1)
	}
	fmt.Fprintln(out, "placed")
	out.Flush()
	select {} // killed before the result is recorded
}

// killCopy starts a child that copies src to dst in the given mode, waits
// for the line that says it reached its point, and kills it with SIGKILL.
func killCopy(t *testing.T, mode, src, dst, at string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", src, dst)
	cmd.Env = append(os.Environ(), "DRILLBOOK_COPY_CHILD="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the copying process ended before %q", at)
			}
			if strings.HasPrefix(l, "error:") {
				t.Fatalf("the copying process failed: %s", l)
			}
			if l != at {
				continue
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		case <-deadline:
			t.Fatalf("the copying process never said %q", at)
		}
	}
}

// manyFiles makes a tree of 40 files of 64 KiB with a read-only directory.
func manyFiles(t *testing.T, root string) {
	t.Helper()
	for i := range 40 {
		write(t, filepath.Join(root, fmt.Sprintf("d%d", i/10), fmt.Sprintf("%02d.rdq", i)), strings.Repeat(string(rune('a'+i%26)), 64<<10), 0o640, t2019)
	}
	makeTree(t, filepath.Join(root, "tree"))
}

// leftovers lists the staging directories next to dst.
func leftovers(t *testing.T, dst string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(dst), stagingPrefix(filepath.Base(dst))+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runCopyOp(t *testing.T, name string, args runbook.Args) (runbook.Result, error) {
	t.Helper()
	for _, op := range Operations(Config{}) {
		if op.Spec().Name == name {
			return op.Run(testCtx(t), runbook.Call{Op: name, Args: args}, nil)
		}
	}
	t.Fatalf("no operation %s", name)
	return runbook.Result{}, nil
}

// TestCopyKilledMidwayIsCleanedOnRerun kills a real process in the middle
// of file.copy's work: dst is not there, the half-staged copy is; a rerun
// removes it and copies, leaving only src and dst.
func TestCopyKilledMidwayIsCleanedOnRerun(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "store"), filepath.Join(base, "backup", "store")
	manyFiles(t, src)
	killCopy(t, "mid", src, dst, "copied 10")
	if _, err := os.Lstat(dst); err == nil {
		t.Fatal("dst exists after a copy killed half way")
	}
	if l := leftovers(t, dst); len(l) != 1 {
		t.Fatalf("want the killed copy's staging directory, found %v", l)
	}
	res, err := runCopyOp(t, "file.copy", runbook.Args{"src": src, "dst": dst, "manifest": filepath.Join(base, "backup", "manifest.json")})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if res.Vars["files"] != "44" {
		t.Fatalf("rerun copied %s files, want 44: %s", res.Vars["files"], res.Summary)
	}
	if l := leftovers(t, dst); len(l) != 0 {
		t.Fatalf("leftovers after the rerun: %v", l)
	}
	if !reflect.DeepEqual(snapshot(t, dst), snapshot(t, src)) {
		t.Fatal("the rerun's copy differs from the source")
	}
}

// TestCopyKilledAfterPlacingIsFoundDoneOnRerun kills a real process after
// its copy was moved into place and before its result (or manifest) was
// recorded: the rerun is not refused for the existing dst, finds it
// complete, copies nothing and writes the manifest, which then verifies.
func TestCopyKilledAfterPlacingIsFoundDoneOnRerun(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "store"), filepath.Join(base, "backup", "store")
	manyFiles(t, src)
	killCopy(t, "placed", src, dst, "placed")
	mpath := filepath.Join(base, "backup", "manifest.json")
	res, err := runCopyOp(t, "file.copy", runbook.Args{"src": src, "dst": dst, "manifest": mpath})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !strings.Contains(res.Summary, "already holds exactly what "+src+" holds (44 files") {
		t.Fatalf("rerun summary: %s", res.Summary)
	}
	if _, err := runCopyOp(t, "file.verify", runbook.Args{"dir": dst, "manifest": mpath}); err != nil {
		t.Fatalf("the rerun's manifest does not verify: %v", err)
	}
	// A dst that differs is still refused, and left alone.
	write(t, filepath.Join(dst, "d0", "00.rdq"), "changed", 0o640, t2019)
	if _, err := runCopyOp(t, "file.copy", runbook.Args{"src": src, "dst": dst}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a different dst: %v", err)
	}
}

// TestReplaceKilledMidwayLeavesDstAndCompletesOnRerun kills a real process
// half way through file.replace: the old dst is whole, and a rerun removes
// the leftover and replaces dst.
func TestReplaceKilledMidwayLeavesDstAndCompletesOnRerun(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "backup"), filepath.Join(base, "msg_stores")
	manyFiles(t, src)
	write(t, filepath.Join(dst, "0.rdq"), "live", 0o640, t2021)
	before := snapshot(t, dst)
	killCopy(t, "replace-mid", src, dst, "copied 10")
	if !reflect.DeepEqual(snapshot(t, dst), before) {
		t.Fatal("dst changed when the replace was killed half way")
	}
	if _, err := runCopyOp(t, "file.replace", runbook.Args{"src": src, "dst": dst}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !reflect.DeepEqual(snapshot(t, dst), snapshot(t, src)) {
		t.Fatal("the rerun did not replace dst")
	}
	if ents, _ := os.ReadDir(base); len(ents) != 2 {
		t.Fatalf("entries left in %s: %v", base, ents)
	}
}

// TestCopyLeavesALiveCopysStagingAlone holds the lock of a staging
// directory as a copy at work does: another copy to the same dst leaves it.
// A leftover holding the old dst that a two-rename replace moved aside, with
// dst missing, is put back.
func TestCopyLeavesALiveCopysStagingAlone(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	write(t, filepath.Join(src, "a"), "new", 0o644, t2021)
	live, err := os.MkdirTemp(base, stagingPrefix("dst"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockStaging(live)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := Copy(testCtx(t), src, dst, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("a live copy's staging directory was removed: %v", err)
	}

	other := filepath.Join(base, "other")
	dead, err := os.MkdirTemp(base, stagingPrefix("other"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dead, stagingLock), "", 0o600, t2021)
	write(t, filepath.Join(dead, "old", "precious"), "old data", 0o644, t2019)
	_, err = Copy(testCtx(t), src, other, CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("copy over the put-back dst: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(other, "precious")); err != nil || string(b) != "old data" {
		t.Fatalf("the old dst was not put back: %q, %v", b, err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Fatal("the dead copy's staging directory is still there")
	}
}
