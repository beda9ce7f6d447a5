package messagesight

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// storeTree writes a small store: two queue files in nested directories and
// an empty directory.
func storeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"com.ibm.ism/queues/ORDERS.msg": "order-1\norder-2\n", "com.ibm.ism/subs/S1.sub": "sub"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDigestTreeIsStable pins the tree digest: manifests written by earlier
// versions of drillbook hold it, and must still match their store backups.
func TestDigestTreeIsStable(t *testing.T) {
	d, err := DigestTree(context.Background(), storeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	want := TreeDigest{Files: 2, Bytes: 19, SHA256: "155a9327ef0ab720282b8d5da81c9bfc0ff5102ed10aa9244aebbdd03d5dc571"}
	if d != want {
		t.Errorf("digest %+v, want %+v", d, want)
	}
}

// TestDigestTreeRefusesLinks checks that a store holding a symbolic link is
// refused: a store holds regular files only.
func TestDigestTreeRefusesLinks(t *testing.T) {
	dir := storeTree(t)
	if err := os.Symlink("com.ibm.ism", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := DigestTree(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "not a regular file or directory") {
		t.Errorf("digest of a store with a link: %v, want a refusal", err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if _, err := copyTree(context.Background(), dir, dst, runbook.OutputFunc(func(runbook.Stream, string) {})); err == nil || !strings.Contains(err.Error(), "not a regular file or directory") {
		t.Errorf("copy of a store with a link: %v, want a refusal", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Errorf("a refused copy left %s behind", dst)
	}
}

// TestCopyTreeNamesTheFirstFilesAndCountsTheRest checks the copy's output
// and that its digest, taken while copying, is the source's.
func TestCopyTreeNamesTheFirstFilesAndCountsTheRest(t *testing.T) {
	src := storeTree(t)
	for i := 0; i < 23; i++ {
		if err := os.WriteFile(filepath.Join(src, "com.ibm.ism", "queues", fmt.Sprintf("Q%02d.msg", i)), []byte("m"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	out := runbook.OutputFunc(func(_ runbook.Stream, s string) { lines = append(lines, s) })
	dst := filepath.Join(t.TempDir(), "copy")
	d, err := copyTree(context.Background(), src, dst, out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := DigestTree(context.Background(), src)
	if err != nil || d != want || d.Files != 25 {
		t.Fatalf("copy digest %+v, source %+v (%v), want equal with 25 files", d, want, err)
	}
	if again, _ := DigestTree(context.Background(), dst); again != want {
		t.Errorf("the copy on disk has digest %+v, want %+v", again, want)
	}
	if len(lines) != namedFiles+1 || lines[0] != "copied com.ibm.ism/queues/ORDERS.msg" || lines[namedFiles] != "and 5 more files" {
		t.Errorf("output %q: want %d named files and \"and 5 more files\"", lines, namedFiles)
	}
	if fi, err := os.Stat(filepath.Join(dst, "com.ibm.ism", "queues", "Q00.msg")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("copied file mode: %v %v, want 0640", fi, err)
	}
	if _, err := copyTree(context.Background(), src, dst, out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("copy over an existing directory: %v, want a refusal", err)
	}
}

// TestStoreCopyCommandFailureNamesTheCommand checks that a target's store
// copy command that fails stops the step with its exit status and stderr,
// and that its command line is shown before it runs.
func TestStoreCopyCommandFailureNamesTheCommand(t *testing.T) {
	r := newRig(t)
	r.cfg.StoreCopy = []string{"sh", "-c", "echo no space left >&2; exit 3", "{src}", "{dst}"}
	r = newRigFor(t, r.srv, r.cfg)
	r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "every": 20 * time.Millisecond})
	res, lines, err := r.run("messagesight.backup-store", runbook.Args{"src": r.srv.StoreDir(), "dest": filepath.Join(t.TempDir(), "copy")})
	if err == nil || res.ExitCode != 3 || !strings.Contains(err.Error(), "exited with status 3") ||
		!strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "check messagesight.store_copy") {
		t.Fatalf("failed copy command: exit %d, %v", res.ExitCode, err)
	}
	shown := strings.Join(lines, "\n")
	if !strings.Contains(shown, "$ sh -c ") {
		t.Errorf("the command line was not shown before it ran:\n%s", shown)
	}
}
