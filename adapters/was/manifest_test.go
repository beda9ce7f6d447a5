package was

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSumTreeListsRegularFilesRelativeToTheSet checks what a data store
// part records: its regular files, named from the backup set directory,
// sorted; not directories or links.
func TestSumTreeListsRegularFilesRelativeToTheSet(t *testing.T) {
	set := t.TempDir()
	dir := filepath.Join(set, "ME1", "datastore")
	writeFiles(t, dir, map[string]string{"tables/SIB000.del": "rows", "export.ddl": "create table"})
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("export.ddl", filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	got, err := sumTree(context.Background(), here(), set, dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range got {
		paths = append(paths, f.Path)
	}
	want := []string{"ME1/datastore/export.ddl", "ME1/datastore/tables/SIB000.del"}
	if !reflect.DeepEqual(paths, want) || got[0].Size != 12 || len(got[0].SHA256) != 64 {
		t.Errorf("sumTree = %+v, want files %v", got, want)
	}
}

// TestVerifyPartNamesWhatChangedOrIsMissing checks that a part is checked
// file by file against what was recorded, while the other parts and files
// of the set are left out of it.
func TestVerifyPartNamesWhatChangedOrIsMissing(t *testing.T) {
	set := t.TempDir()
	writeFiles(t, set, map[string]string{"ME1/datastore/a.del": "aaaa", "ME1/datastore/b.del": "bb", "config.zip": "PK"})
	files, err := sumTree(context.Background(), here(), set, filepath.Join(set, "ME1", "datastore"))
	if err != nil {
		t.Fatal(err)
	}
	p := Part{Kind: "datastore", Name: "ME1", Files: files}
	ctx := context.Background()
	if err := verifyPart(ctx, here(), set, p); err != nil {
		t.Fatalf("an unchanged part: %v", err)
	}
	writeFiles(t, set, map[string]string{"ME1/datastore/b.del": "BB"})
	err = verifyPart(ctx, here(), set, p)
	if err == nil || !strings.Contains(err.Error(), "changed since it was taken") || !strings.Contains(err.Error(), "ME1/datastore/b.del: content differs") {
		t.Errorf("a changed file: %v", err)
	}
	writeFiles(t, set, map[string]string{"ME1/datastore/b.del": "bb"})
	if err := os.Remove(filepath.Join(set, "ME1", "datastore", "a.del")); err != nil {
		t.Fatal(err)
	}
	err = verifyPart(ctx, here(), set, p)
	if err == nil || !strings.Contains(err.Error(), "ME1/datastore/a.del missing") {
		t.Errorf("a missing file: %v", err)
	}
	if err := verifyPart(ctx, here(), set, Part{Kind: "config", Name: "c.zip"}); err == nil || !strings.Contains(err.Error(), "records no files") {
		t.Errorf("a part without files: %v", err)
	}
}

// TestCopyFileReplacesTheWholeFile checks that a copy over an existing
// file replaces it and reports the copy's size and digest.
func TestCopyFileReplacesTheWholeFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/Log": "new log", "dst/Log": "an older, longer log"})
	n, sum, err := copyFile(context.Background(), here(), filepath.Join(dir, "dst", "Log"), here(), filepath.Join(dir, "src", "Log"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "dst", "Log"))
	wantN, wantSum, _ := sumFile(context.Background(), here(), filepath.Join(dir, "src", "Log"))
	if string(b) != "new log" || n != 7 || n != wantN || sum != wantSum {
		t.Errorf("copy holds %q, reported %d bytes sha256 %s; want \"new log\", %d, %s", b, n, sum, wantN, wantSum)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "dst")); len(entries) != 1 {
		t.Errorf("destination directory holds %d entries, want 1 (no staging left)", len(entries))
	}
	if _, _, err := copyFile(context.Background(), here(), filepath.Join(dir, "x"), here(), filepath.Join(dir, "src")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("copy of a directory: %v", err)
	}
}

// here is this machine, where the unit tests' sets are.
func here() host.Host { return host.NewLocal(runbook.LocalHost) }
