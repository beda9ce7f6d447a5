package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func write(t *testing.T, path, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

var (
	t2019 = time.Date(2019, 3, 4, 5, 6, 7, 123456789, time.UTC)
	t2021 = time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
)

// makeTree builds a store-like tree: files with their own modes and times,
// a setgid directory, a read-only directory, a symlink, an empty directory.
func makeTree(t *testing.T, root string) {
	t.Helper()
	write(t, filepath.Join(root, "log", "log1.dat"), strings.Repeat("L", 70000), 0o640, t2019)
	write(t, filepath.Join(root, "bin", "run.sh"), "#!/bin/sh\necho hi\n", 0o755, t2021)
	write(t, filepath.Join(root, "ro", "frozen.txt"), "cold", 0o444, t2021)
	write(t, filepath.Join(root, "zero"), "", 0o600, t2019)
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("log/log1.dat", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	for dir, mode := range map[string]fs.FileMode{"ro": 0o555, "bin": 0o750 | fs.ModeSetgid} {
		if err := os.Chmod(filepath.Join(root, dir), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty", "log", "bin", "ro", "."} {
		if err := os.Chtimes(filepath.Join(root, d), t2019, t2019); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "ro"), 0o755) })
}

// snapshot describes every entry of a tree: type, mode, mtime, content or
// link target, as a user comparing the two trees would see them.
func snapshot(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := rel + " " + fi.Mode().String() + " " + fi.ModTime().UTC().Format(time.RFC3339Nano)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(path)
			line += " " + hashOf(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCopyTreeKeepsModesTimesLinksAndEmptyDirs(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "store"), filepath.Join(base, "backup", "store")
	makeTree(t, src)
	m, err := Copy(testCtx(t), src, dst, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, got := snapshot(t, src), snapshot(t, dst)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("copy differs\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) != 11 {
		t.Fatalf("%d entries copied, want 11:\n%s", len(got), strings.Join(got, "\n"))
	}
	if m.Files != 4 || m.Bytes != 70000+18+4 || len(m.Entries) != 11 {
		t.Fatalf("manifest: %d files, %d bytes, %d entries", m.Files, m.Bytes, len(m.Entries))
	}
	for _, e := range m.Entries {
		if e.Path == "log/log1.dat" && e.SHA256 != hashOf([]byte(strings.Repeat("L", 70000))) {
			t.Fatalf("log1.dat hashed as %s", e.SHA256)
		}
		if e.Path == "current" && (e.Type != TypeSymlink || e.Target != "log/log1.dat") {
			t.Fatalf("link entry %+v", e)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(base, "backup", ".*"))
	if len(leftovers) != 0 {
		t.Fatalf("staging left behind: %q", leftovers)
	}
}

func TestCopyKeepsOwnerWhenRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	write(t, filepath.Join(src, "f"), "x", 0o4750, t2019)
	if err := os.Chown(filepath.Join(src, "f"), 65534, 65533); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "f"), 0o750|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(testCtx(t), src, filepath.Join(base, "dst"), CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(base, "dst", "f"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65533 || fi.Mode() != 0o750|fs.ModeSetuid {
		t.Fatalf("owner %d:%d mode %s, want 65534:65533 -rwsr-x---", st.Uid, st.Gid, fi.Mode())
	}
}

func TestCopySingleFile(t *testing.T) {
	base := t.TempDir()
	write(t, filepath.Join(base, "a.zip"), "PK...", 0o640, t2021)
	m, err := Copy(testCtx(t), filepath.Join(base, "a.zip"), filepath.Join(base, "b.zip"), CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(base, "b.zip"))
	fi, _ := os.Stat(filepath.Join(base, "b.zip"))
	if string(b) != "PK..." || fi.Mode() != 0o640 || !fi.ModTime().Equal(t2021) {
		t.Fatalf("copy %q %s %s", b, fi.Mode(), fi.ModTime())
	}
	if len(m.Entries) != 1 || m.Entries[0].Path != "." || m.Files != 1 {
		t.Fatalf("manifest %+v", m)
	}
}

func TestCopyRefusesExistingDestination(t *testing.T) {
	base := t.TempDir()
	write(t, filepath.Join(base, "src", "new"), "new", 0o644, t2021)
	write(t, filepath.Join(base, "dst", "old"), "old", 0o644, t2019)
	before := snapshot(t, filepath.Join(base, "dst"))
	_, err := Copy(testCtx(t), filepath.Join(base, "src"), filepath.Join(base, "dst"), CopyOptions{})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "use file.replace") {
		t.Fatalf("error = %v", err)
	}
	if after := snapshot(t, filepath.Join(base, "dst")); !reflect.DeepEqual(before, after) {
		t.Fatalf("dst changed: %q", after)
	}
	if _, err := Copy(testCtx(t), filepath.Join(base, "src"), filepath.Join(base, "src", "inner"), CopyOptions{}); err == nil {
		t.Fatal("copying a tree into itself: want an error")
	}
}

func TestReplaceSwapsTreeAtomically(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "backup"), filepath.Join(base, "msg_stores")
	makeTree(t, src)
	write(t, filepath.Join(dst, "stale.rdq"), "stale", 0o644, t2019)
	if _, err := Copy(testCtx(t), src, dst, CopyOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := snapshot(t, dst), snapshot(t, src); !reflect.DeepEqual(got, want) {
		t.Fatalf("replaced tree differs:\n%s", strings.Join(got, "\n"))
	}
	ents, _ := os.ReadDir(base)
	if len(ents) != 2 {
		t.Fatalf("entries left in %s: %v", base, ents)
	}
}

func TestReplaceLeavesOldDestinationWhenCopyFailsHalfway(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "backup"), filepath.Join(base, "msg_stores")
	// Files sort before the named pipe, so the copy is well under way when
	// it meets something it refuses to copy.
	write(t, filepath.Join(src, "a.rdq"), strings.Repeat("a", 3<<20), 0o644, t2021)
	write(t, filepath.Join(src, "b.rdq"), "b", 0o644, t2021)
	if err := syscall.Mkfifo(filepath.Join(src, "c.pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dst, "0.rdq"), "precious", 0o640, t2019)
	before := snapshot(t, dst)
	_, err := Copy(testCtx(t), src, dst, CopyOptions{Replace: true})
	if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), "is unchanged") {
		t.Fatalf("error = %v", err)
	}
	if after := snapshot(t, dst); !reflect.DeepEqual(before, after) {
		t.Fatalf("dst changed:\n%s", strings.Join(after, "\n"))
	}
	ents, _ := os.ReadDir(base)
	if len(ents) != 2 {
		t.Fatalf("staging left in %s: %v", base, ents)
	}

	// Cancelled after the first file: same guarantee.
	os.Remove(filepath.Join(src, "c.pipe"))
	ctx, cancel := context.WithCancel(testCtx(t))
	_, err = Copy(ctx, src, dst, CopyOptions{Replace: true, Progress: func(files int, _ int64) {
		if files == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want one wrapping context.Canceled", err)
	}
	if after := snapshot(t, dst); !reflect.DeepEqual(before, after) {
		t.Fatalf("dst changed after cancel:\n%s", strings.Join(after, "\n"))
	}
}

func TestManifestRoundTrip(t *testing.T) {
	base := t.TempDir()
	makeTree(t, filepath.Join(base, "store"))
	m, err := BuildManifest(testCtx(t), filepath.Join(base, "store"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(base, "m", "manifest.json")
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, back) {
		t.Fatalf("round trip differs:\n%+v\n%+v", m, back)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"path": "bin/run.sh"`, `"mode": "0755"`, `"mode": "0555"`, `"mode": "2750"`, `"target": "log/log1.dat"`, `"mtime": "2019-03-04T05:06:07.123456789Z"`, `"files": 4`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("manifest lacks %s", want)
		}
	}
	r, err := Verify(testCtx(t), filepath.Join(base, "store"), back)
	if err != nil || !r.OK() || r.Checked != 11 {
		t.Fatalf("verify of the same tree: %v %+v", err, r)
	}
}

func TestReadManifestRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := `{"version":1,"root":"/x","taken":"2026-01-01T00:00:00Z","files":0,"bytes":0,"entries":[%s]}`
	for name, body := range map[string]string{
		"not json":      `{"version":`,
		"version":       `{"version":2,"entries":[]}`,
		"unknown field": `{"version":1,"extra":true,"entries":[]}`,
		"escape":        strings.Replace(good, "%s", `{"path":"../etc/passwd","type":"dir","mode":"0755","mtime":"2026-01-01T00:00:00Z"}`, 1),
		"absolute":      strings.Replace(good, "%s", `{"path":"/etc","type":"dir","mode":"0755","mtime":"2026-01-01T00:00:00Z"}`, 1),
		"twice":         strings.Replace(good, "%s", `{"path":"a","type":"dir","mode":"0755","mtime":"2026-01-01T00:00:00Z"},{"path":"a","type":"dir","mode":"0755","mtime":"2026-01-01T00:00:00Z"}`, 1),
		"bad mode":      strings.Replace(good, "%s", `{"path":"a","type":"dir","mode":"rwx","mtime":"2026-01-01T00:00:00Z"}`, 1),
		"no hash":       strings.Replace(good, "%s", `{"path":"a","type":"file","mode":"0644","mtime":"2026-01-01T00:00:00Z"}`, 1),
		"bad type":      strings.Replace(good, "%s", `{"path":"a","type":"fifo","mode":"0644","mtime":"2026-01-01T00:00:00Z"}`, 1),
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadManifest(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	p := filepath.Join(dir, "ok")
	os.WriteFile(p, []byte(strings.Replace(good, "%s", "", 1)), 0o644)
	if _, err := ReadManifest(p); err != nil {
		t.Errorf("empty manifest: %v", err)
	}
}

func TestVerifyCatchesChangedMissingAndExtraFiles(t *testing.T) {
	base := t.TempDir()
	store := filepath.Join(base, "store")
	makeTree(t, store)
	m, err := BuildManifest(testCtx(t), store)
	if err != nil {
		t.Fatal(err)
	}
	// One byte changed in place (same size, same time), one file gone,
	// one file added, a link retargeted.
	f, err := os.OpenFile(filepath.Join(store, "log", "log1.dat"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), 12345)
	f.Close()
	os.Chtimes(filepath.Join(store, "log", "log1.dat"), t2019, t2019)
	os.Remove(filepath.Join(store, "bin", "run.sh"))
	write(t, filepath.Join(store, "log", "log2.dat"), "new", 0o644, t2021)
	os.Remove(filepath.Join(store, "current"))
	os.Symlink("log/log2.dat", filepath.Join(store, "current"))

	r, err := Verify(testCtx(t), store, m)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatal("verify passed a changed tree")
	}
	if got := strings.Join(r.Changed, ","); got != "current,log/log1.dat" {
		t.Errorf("changed %q", got)
	}
	if got := strings.Join(r.Missing, ","); got != "bin/run.sh" {
		t.Errorf("missing %q", got)
	}
	if got := strings.Join(r.Extra, ","); got != "log/log2.dat" {
		t.Errorf("extra %q", got)
	}
	if s := r.String(); s != "2 changed (current, log/log1.dat), 1 missing (bin/run.sh), 1 extra (log/log2.dat)" {
		t.Errorf("report %q", s)
	}
}

// --- the operations

func op(t *testing.T, name string) runbook.Operation {
	t.Helper()
	for _, o := range Operations(Config{}) {
		if o.Spec().Name == name {
			return o
		}
	}
	t.Fatalf("no operation %s", name)
	return nil
}

func runOp(t *testing.T, name string, args runbook.Args) (runbook.Result, error) {
	t.Helper()
	return op(t, name).Run(testCtx(t), runbook.Call{Op: name, Args: args, Phase: runbook.PhaseAction, Attempt: 1}, runbook.OutputFunc(func(runbook.Stream, string) {}))
}

func TestSpecs(t *testing.T) {
	var got []string
	for _, o := range Operations(Config{}) {
		s := o.Spec()
		entry := s.Name
		if s.Destructive {
			entry += "!"
		}
		for _, a := range s.Args {
			if a.Required {
				entry += " " + a.Name
			}
		}
		got = append(got, entry)
	}
	want := "file.exists path|file.copy src dst|file.replace! src dst|file.verify dir manifest|file.manifest dir out"
	if s := strings.Join(got, "|"); s != want {
		t.Fatalf("ops %q, want %q", s, want)
	}
}

func TestExistsOp(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), "12345", 0o644, t2021)
	res, err := runOp(t, "file.exists", runbook.Args{"path": filepath.Join(dir, "f"), "kind": "file"})
	if err != nil || res.Vars["kind"] != "file" || res.Vars["size"] != "5" {
		t.Fatalf("%v %+v", err, res)
	}
	if _, err := runOp(t, "file.exists", runbook.Args{"path": filepath.Join(dir, "f"), "kind": "dir"}); err == nil || !strings.Contains(err.Error(), "is a file, not a directory") {
		t.Fatalf("error = %v", err)
	}
	if _, err := runOp(t, "file.exists", runbook.Args{"path": filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error = %v", err)
	}
	if res, err := runOp(t, "file.exists", runbook.Args{"path": dir, "kind": "dir"}); err != nil || !strings.Contains(res.Summary, "directory, 1 entries") {
		t.Fatalf("%v %q", err, res.Summary)
	}
}

func TestCopyOpManifestThenVerifyOp(t *testing.T) {
	base := t.TempDir()
	src, dst, man := filepath.Join(base, "store"), filepath.Join(base, "bk", "store"), filepath.Join(base, "bk", "store.manifest.json")
	makeTree(t, src)
	plan, err := op(t, "file.copy").Plan(runbook.Call{Args: runbook.Args{"src": src, "dst": dst, "manifest": man}})
	if err != nil || plan.Summary() != "copy "+src+" to "+dst+" (must not exist); manifest "+man+"  @ localhost" {
		t.Fatalf("plan %q %v", plan.Summary(), err)
	}
	res, err := runOp(t, "file.copy", runbook.Args{"src": src, "dst": dst, "manifest": man})
	if err != nil || res.Vars["files"] != "4" {
		t.Fatalf("%v %+v", err, res)
	}
	res, err = runOp(t, "file.verify", runbook.Args{"dir": dst, "manifest": man})
	if err != nil || res.Vars["checked"] != "11" {
		t.Fatalf("%v %+v", err, res)
	}
	if res, err := runOp(t, "file.verify", runbook.Args{"dir": src, "manifest": man}); err != nil {
		t.Fatalf("the source no longer matches: %v %+v", err, res)
	}
	os.WriteFile(filepath.Join(dst, "zero"), []byte("!"), 0o600)
	res, err = runOp(t, "file.verify", runbook.Args{"dir": dst, "manifest": man})
	if err == nil || !strings.Contains(err.Error(), "1 changed (zero)") || res.Vars["changed"] != "1" {
		t.Fatalf("%v %+v", err, res)
	}
	if _, err := runOp(t, "file.copy", runbook.Args{"src": src, "dst": dst}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second copy: %v", err)
	}
	if _, err := runOp(t, "file.replace", runbook.Args{"src": src, "dst": dst, "manifest": man}); err != nil {
		t.Fatal(err)
	}
	if _, err := runOp(t, "file.verify", runbook.Args{"dir": dst, "manifest": man}); err != nil {
		t.Fatalf("after replace: %v", err)
	}
}

func TestManifestOpInsideTree(t *testing.T) {
	base := t.TempDir()
	makeTree(t, base+"/store")
	man := filepath.Join(base, "store", "MANIFEST.json")
	if _, err := runOp(t, "file.manifest", runbook.Args{"dir": base + "/store", "out": man}); err != nil {
		t.Fatal(err)
	}
	res, err := runOp(t, "file.verify", runbook.Args{"dir": base + "/store", "manifest": man})
	if err != nil || res.Vars["checked"] != "11" || res.Vars["extra"] != "0" {
		t.Fatalf("%v %+v", err, res)
	}
}
