package host

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/runbook"
)

// makeTree writes a small store: two files, a subdirectory, a link.
func makeTree(t *testing.T, root string, big int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, big)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for name, b := range map[string][]byte{"store.dat": data, "sub/log.txt": []byte("hello\n")} {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub/log.txt", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteManifestIsHashedOnTheHost(t *testing.T) {
	h, _ := remoteHost(t)
	r := h.(*Remote)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "store")
	makeTree(t, root, 20<<20)
	in0, _ := r.Traffic()
	m, err := h.Manifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	in1, out1 := r.Traffic()
	want, err := file.BuildManifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 2 || m.Bytes != want.Bytes || len(m.Entries) != len(want.Entries) {
		t.Fatalf("remote manifest: %d files, %d bytes, %d entries; want %d, %d, %d", m.Files, m.Bytes, len(m.Entries), want.Files, want.Bytes, len(want.Entries))
	}
	for i := range m.Entries {
		if m.Entries[i].SHA256 != want.Entries[i].SHA256 || m.Entries[i].Path != want.Entries[i].Path {
			t.Fatalf("entry %d: %+v, want %+v", i, m.Entries[i], want.Entries[i])
		}
	}
	// 20 MiB were hashed; only the manifest crossed the connection.
	if got := in1 - in0; got > 64<<10 {
		t.Fatalf("the manifest of a 20 MiB tree brought %d bytes over the connection: it was not computed on the host", got)
	}
	t.Logf("manifest of 20 MiB: %d bytes in, %d bytes out over the connection", in1-in0, out1)

	// Verify runs there too, and finds a change.
	rep, err := h.Verify(ctx, root, m)
	if err != nil || !rep.OK() || rep.Checked != len(m.Entries) {
		t.Fatalf("verify unchanged tree: %v %v", rep, err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub/log.txt"), []byte("HELLO\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	rep, err = h.Verify(ctx, root, m)
	if err != nil || rep.OK() || strings.Join(rep.Changed, ",") != "sub/log.txt" {
		t.Fatalf("verify changed tree: %v %v", rep, err)
	}
}

func TestRemoteFileCalls(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b")
	if err := h.MkdirAll(ctx, p, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(p, "state.json")
	if err := h.WriteFile(ctx, f, []byte(`{"ok":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := h.ReadFile(ctx, f, 0)
	if err != nil || string(b) != `{"ok":true}` {
		t.Fatalf("read back %q %v", b, err)
	}
	if _, err := h.ReadFile(ctx, f, 4); err == nil || !strings.Contains(err.Error(), "over 4 bytes") {
		t.Fatalf("read over the limit: %v", err)
	}
	fi, err := h.Stat(ctx, f)
	if err != nil || fi.Size() != 11 || fi.Mode().Perm() != 0o600 || fi.IsDir() || fi.Sys().(*Sys).Inode == 0 {
		t.Fatalf("stat %v %v", fi, err)
	}
	if _, err := h.Stat(ctx, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "host far:") {
		t.Fatalf("stat of a missing file: %v, want fs.ErrNotExist naming the host", err)
	}
	ents, err := h.ReadDir(ctx, filepath.Join(dir, "a"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "b" || !ents[0].IsDir() {
		t.Fatalf("readdir %v %v", ents, err)
	}
	tmp, err := h.MkdirTemp(ctx, dir, "work-")
	if err != nil || !strings.HasPrefix(filepath.Base(tmp), "work-") {
		t.Fatalf("mkdirtemp %q %v", tmp, err)
	}
	sp, err := h.FreeSpace(ctx, dir)
	if err != nil || sp.Total == 0 || sp.Avail > sp.Total {
		t.Fatalf("free space %+v %v", sp, err)
	}
	if err := h.RemoveAll(ctx, filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed tree still there: %v", err)
	}
}

func TestRemoteCopyWithinTheHost(t *testing.T) {
	h, _ := remoteHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	src := filepath.Join(dir, "store")
	makeTree(t, src, 3<<20)
	var calls int
	m, err := h.Copy(ctx, src, filepath.Join(dir, "copy"), file.CopyOptions{Progress: func(int, int64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 2 || calls != 2 {
		t.Fatalf("copy: %d files, %d progress calls; want 2, 2", m.Files, calls)
	}
	rep, err := file.Verify(ctx, filepath.Join(dir, "copy"), m)
	if err != nil || !rep.OK() {
		t.Fatalf("the copy does not match its manifest: %v %v", rep, err)
	}
	if _, err := h.Copy(ctx, src, filepath.Join(dir, "copy"), file.CopyOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("copy over an existing tree: %v, want fs.ErrExist", err)
	}
}

// run runs an operation as the runner would.
func runOp(t *testing.T, op runbook.Operation, args runbook.Args) (runbook.Result, error, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := &lines{}
	res, err := op.Run(ctx, runbook.Call{Op: op.Spec().Name, Args: args, Step: "s", Phase: runbook.PhaseAction, Attempt: 1}, out)
	return res, err, out.all()
}

func fileOpNamed(t testing.TB, hosts Resolver, name string) runbook.Operation {
	for _, op := range FileOps(hosts) {
		if op.Spec().Name == name {
			return op
		}
	}
	panic("no operation " + name)
}

func TestFileOpsOnAHostAndAcrossHosts(t *testing.T) {
	s, srv := remoteSet(t)
	// A second name for the same sshd: two hosts, so a copy between them
	// is streamed through drillbook.
	s.target.Hosts["far2"] = srv.Host("far2", testAgent(t))
	dir := t.TempDir()
	src := filepath.Join(dir, "store")
	makeTree(t, src, 5<<20)

	exists := fileOpNamed(t, s, "file.exists")
	res, err, _ := runOp(t, exists, runbook.Args{"path": src, "kind": "dir", "host": "far"})
	if err != nil || res.Vars["kind"] != "dir" {
		t.Fatalf("file.exists on far: %+v %v", res, err)
	}
	if _, err, _ := runOp(t, exists, runbook.Args{"path": filepath.Join(dir, "nope"), "host": "far"}); err == nil || !strings.Contains(err.Error(), "host far:") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("file.exists of a missing path on far: %v", err)
	}
	p, err := exists.Plan(runbook.Call{Op: "file.exists", Args: runbook.Args{"path": src, "host": "far"}})
	if err != nil || !strings.HasPrefix(p.Host, "far (") || !strings.Contains(p.Summary(), "@ far (") {
		t.Fatalf("plan of file.exists on far: %+v %v", p, err)
	}
	if _, err := exists.Plan(runbook.Call{Op: "file.exists", Args: runbook.Args{"path": src, "host": "nowhere"}}); err == nil || !strings.Contains(err.Error(), `no host "nowhere"`) || !strings.Contains(err.Error(), "far, far2") {
		t.Fatalf("plan on an unknown host: %v", err)
	}

	// A manifest written on far, then the tree copied from far to far2
	// with a manifest, verified on far2.
	man := fileOpNamed(t, s, "file.manifest")
	if _, err, _ := runOp(t, man, runbook.Args{"dir": src, "out": filepath.Join(dir, "store.manifest"), "host": "far"}); err != nil {
		t.Fatal(err)
	}
	cp := fileOpNamed(t, s, "file.copy")
	dst := filepath.Join(dir, "elsewhere", "store")
	res, err, out := runOp(t, cp, runbook.Args{"src": src, "dst": dst, "manifest": filepath.Join(dir, "copy.manifest"), "src_host": "far", "host": "far2"})
	if err != nil {
		t.Fatalf("copy far -> far2: %v\n%s", err, strings.Join(out, "\n"))
	}
	if res.Vars["files"] != "2" || !strings.Contains(res.Summary, "from far:"+src) || strings.Contains(res.Summary+strings.Join(res.Evidence, " "), "drillbook-recv") {
		t.Fatalf("copy result names the staging directory or not the source: %+v\n%s", res, strings.Join(out, "\n"))
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	if len(ents) != 1 || ents[0].Name() != "store" {
		t.Fatalf("next to the copy: %v (the staging directory must be gone)", ents)
	}
	verify := fileOpNamed(t, s, "file.verify")
	if res, err, _ := runOp(t, verify, runbook.Args{"dir": dst, "manifest": filepath.Join(dir, "store.manifest"), "host": "far2"}); err != nil || res.Vars["checked"] != "5" {
		t.Fatalf("verify the copy against the source's manifest: %+v %v", res, err)
	}
	// The same copy again finds the tree already in place, as a rerun
	// after a crash would, and copies nothing.
	res, err, out = runOp(t, cp, runbook.Args{"src": src, "dst": dst, "src_host": "far", "host": "far2"})
	if err != nil || !strings.Contains(res.Summary, "already holds exactly what far:"+src) {
		t.Fatalf("the same copy again: %+v %v\n%s", res, err, strings.Join(out, "\n"))
	}
	// A different tree to the same destination refuses to overwrite it,
	// as file.copy does locally.
	if err := os.WriteFile(filepath.Join(src, "sub", "log.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err, out := runOp(t, cp, runbook.Args{"src": src, "dst": dst, "src_host": "far", "host": "far2"}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("copy of a changed tree over the copy: %v, want fs.ErrExist\n%s", err, strings.Join(out, "\n"))
	}
	// And from far to this machine.
	local := filepath.Join(dir, "local-copy")
	if _, err, _ := runOp(t, cp, runbook.Args{"src": src, "dst": local, "src_host": "far"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(local, "sub/log.txt")); err != nil || string(b) != "changed\n" {
		t.Fatalf("local copy: %q %v", b, err)
	}
}

func TestTransferBetweenHosts(t *testing.T) {
	s, _ := remoteSet(t)
	far, _ := s.Get("far")
	local, _ := s.Get("")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	src := filepath.Join(dir, "store")
	makeTree(t, src, 2<<20)
	dst := filepath.Join(dir, "backups", "store")
	m, err := Transfer(ctx, far, src, local, dst, file.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 2 || m.Root != "far:"+src {
		t.Fatalf("manifest: %d files, root %q", m.Files, m.Root)
	}
	if rep, err := file.Verify(ctx, dst, m); err != nil || !rep.OK() {
		t.Fatalf("the transferred tree: %v %v", rep, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 1 {
		t.Fatalf("next to the copy: %v (the staging directory must be gone)", ents)
	}
	// Back the other way, replacing what is there.
	os.WriteFile(filepath.Join(dst, "sub", "log.txt"), []byte("changed\n"), 0o640)
	if _, err := Transfer(ctx, local, dst, far, src, file.CopyOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "sub", "log.txt")); string(b) != "changed\n" {
		t.Fatalf("replaced tree holds %q", b)
	}
	// A missing source is an error naming it and its host; nothing is left.
	if _, err := Transfer(ctx, far, filepath.Join(dir, "nope"), local, filepath.Join(dir, "x"), file.CopyOptions{}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "on far") {
		t.Fatalf("transfer of a missing tree: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("after a failed transfer %d entries in %s, want 2", len(ents), dir)
	}
}

// TestMkdirIsExclusiveAndWritableChecks: Mkdir refuses an existing
// directory on this machine and on a remote host alike (the error is
// fs.ErrExist there too and names the host), and Writable tells a
// directory the user may write from one it may not.
func TestMkdirIsExclusiveAndWritableChecks(t *testing.T) {
	rh, _ := remoteHost(t)
	for _, h := range []Host{NewLocal(runbook.LocalHost), rh} {
		t.Run(h.Name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "set")
			if err := h.Mkdir(ctx, dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("after Mkdir: %v", err)
			}
			err := h.Mkdir(ctx, dir, 0o755)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second Mkdir: %v, want fs.ErrExist", err)
			}
			if h.Name() != runbook.LocalHost && !strings.Contains(err.Error(), "host "+h.Name()) {
				t.Fatalf("the error does not name the host: %v", err)
			}
			if err := h.Mkdir(ctx, filepath.Join(dir, "no", "parent"), 0o755); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Mkdir without its parent: %v, want fs.ErrNotExist", err)
			}
			if err := h.Writable(ctx, dir); err != nil {
				t.Fatalf("Writable on a fresh directory: %v", err)
			}
			if os.Geteuid() != 0 {
				if err := os.Chmod(dir, 0o555); err != nil {
					t.Fatal(err)
				}
				defer os.Chmod(dir, 0o755)
				if err := h.Writable(ctx, dir); !errors.Is(err, fs.ErrPermission) {
					t.Fatalf("Writable on a read-only directory: %v, want fs.ErrPermission", err)
				}
			}
			if err := h.Writable(ctx, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Writable on a missing directory: %v", err)
			}
		})
	}
}
