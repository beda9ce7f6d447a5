package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ManifestFile is the name of the manifest written next to a backup's
// msg_stores copy.
const ManifestFile = "manifest.json"

// CountsFile records, per queue, the message count at backup time; the
// restore runbook verifies the restored node against it.
const CountsFile = "counts.json"

// Manifest lists every file of a msg_stores copy with its size and SHA-256.
type Manifest struct {
	// Root is the directory the paths are relative to, as written
	// ("msg_stores").
	Root string `json:"root"`
	// Created is when the copy was taken (UTC).
	Created time.Time `json:"created"`
	// Files are sorted by path.
	Files []ManifestEntry `json:"files"`
	// Bytes is the sum of the files' sizes.
	Bytes int64 `json:"bytes"`
}

// ManifestEntry is one file of a manifest.
type ManifestEntry struct {
	// Path is slash-separated and relative to the manifest's root.
	Path string `json:"path"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex digest of the file's bytes.
	SHA256 string `json:"sha256"`
}

// copyStats is what a tree copy did.
type copyStats struct {
	Files int
	Bytes int64
}

// copyTree copies the directory src to dst, which must not exist: directory
// and file modes and times are kept (cp -a) and every file's bytes are
// hashed as they pass. When owner is not nil, everything written gets that
// uid/gid (a restore makes the files the node's own); otherwise, when
// running as root, the source's ownership is kept. Files are copied by a
// few workers at once. It returns the manifest of what was copied.
func copyTree(ctx context.Context, src, dst string, owner *[2]int) (Manifest, copyStats, error) {
	var m Manifest
	var st copyStats
	if _, err := os.Lstat(dst); err == nil {
		return m, st, fmt.Errorf("%s already exists: copy into a fresh directory (a second `cp -a` would nest msg_stores/msg_stores, pitfall 17)", dst)
	}
	type job struct {
		rel  string
		info fs.FileInfo
	}
	var files []job
	var dirs []job
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, job{rel, info})
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case d.Type().IsRegular():
			files = append(files, job{rel, info})
		default:
			return fmt.Errorf("%s: not a regular file, directory or symlink", p)
		}
		return nil
	})
	if err != nil {
		return m, st, fmt.Errorf("copy %s: %w", src, err)
	}
	entries := make([]ManifestEntry, len(files))
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for i := range jobs {
				f := files[i]
				sum, err := copyFile(filepath.Join(src, f.rel), filepath.Join(dst, f.rel), f.info, owner, buf)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				entries[i] = ManifestEntry{Path: filepath.ToSlash(f.rel), Size: f.info.Size(), SHA256: sum}
			}
		}()
	}
feed:
	for i := range files {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return m, st, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return m, st, fmt.Errorf("copy %s interrupted: %w", src, err)
	}
	// Directory modes, owners and times last, deepest first, so that the
	// files written into them do not change their mtimes again.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		t := filepath.Join(dst, d.rel)
		if err := setMeta(t, d.info, owner); err != nil {
			return m, st, err
		}
	}
	for _, e := range entries {
		st.Files++
		st.Bytes += e.Size
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	m = Manifest{Root: filepath.Base(dst), Created: time.Now().UTC(), Files: entries, Bytes: st.Bytes}
	return m, st, nil
}

func copyFile(src, dst string, info fs.FileInfo, owner *[2]int, buf []byte) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(out, h), in, buf); err != nil {
		out.Close()
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	if err := setMeta(dst, info, owner); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func setMeta(p string, info fs.FileInfo, owner *[2]int) error {
	if err := os.Chmod(p, info.Mode().Perm()); err != nil {
		return err
	}
	if owner != nil {
		if err := os.Lchown(p, owner[0], owner[1]); err != nil {
			return fmt.Errorf("give %s to uid %d: %w", p, owner[0], err)
		}
	} else if st, ok := info.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Chtimes(p, info.ModTime(), info.ModTime())
}

// ownerOf returns the uid and gid of p.
func ownerOf(p string) (*[2]int, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, nil
	}
	return &[2]int{int(st.Uid), int(st.Gid)}, nil
}

// writeJSON writes v to path atomically (temp file, fsync, rename).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// compareManifest checks got (what a copy saw) against want (the backup's
// manifest): same files, sizes and digests. It returns one line per
// difference, at most 20.
func compareManifest(want, got Manifest) []string {
	w := make(map[string]ManifestEntry, len(want.Files))
	for _, e := range want.Files {
		w[e.Path] = e
	}
	var diffs []string
	seen := make(map[string]bool, len(got.Files))
	for _, e := range got.Files {
		seen[e.Path] = true
		x, ok := w[e.Path]
		switch {
		case !ok:
			diffs = append(diffs, "extra file "+e.Path)
		case x.Size != e.Size:
			diffs = append(diffs, fmt.Sprintf("%s: size %d, manifest says %d", e.Path, e.Size, x.Size))
		case x.SHA256 != e.SHA256:
			diffs = append(diffs, fmt.Sprintf("%s: SHA-256 differs from the manifest", e.Path))
		}
	}
	for _, e := range want.Files {
		if !seen[e.Path] {
			diffs = append(diffs, "missing file "+e.Path)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 20 {
		diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
	}
	return diffs
}

// hashTree computes the manifest of an existing tree, for verify-backup.
func hashTree(ctx context.Context, root string) (Manifest, error) {
	var m Manifest
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m.Files = append(m.Files, ManifestEntry{Path: filepath.ToSlash(rel), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		m.Bytes += n
		return nil
	})
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m, err
}

// storeContent summarises the message data a msg_stores tree holds: queue
// directories with any non-empty file, and non-empty .rdq files. A node
// whose queues are all empty (fresh, definitions imported) holds none.
type storeContent struct {
	QueueDirs []string // "v1: cq.a" from .queue_name, or the directory
	RDQBytes  int64
}

func (s storeContent) empty() bool { return len(s.QueueDirs) == 0 && s.RDQBytes == 0 }

func inspectStore(root string) (storeContent, error) {
	var sc storeContent
	vhosts, err := os.ReadDir(filepath.Join(root, "vhosts"))
	if errors.Is(err, os.ErrNotExist) {
		return sc, nil
	}
	if err != nil {
		return sc, err
	}
	for _, v := range vhosts {
		vdir := filepath.Join(root, "vhosts", v.Name())
		for _, sub := range []string{"msg_store_persistent", "msg_store_transient"} {
			fs, _ := os.ReadDir(filepath.Join(vdir, sub))
			for _, f := range fs {
				if info, err := f.Info(); err == nil && strings.HasSuffix(f.Name(), ".rdq") {
					sc.RDQBytes += info.Size()
				}
			}
		}
		qs, _ := os.ReadDir(filepath.Join(vdir, "queues"))
		for _, q := range qs {
			qdir := filepath.Join(vdir, "queues", q.Name())
			fs, _ := os.ReadDir(qdir)
			var size int64
			for _, f := range fs {
				if info, err := f.Info(); err == nil && f.Name() != ".queue_name" && info.Mode().IsRegular() {
					size += info.Size()
				}
			}
			if size == 0 {
				continue
			}
			name := q.Name()
			if b, err := os.ReadFile(filepath.Join(qdir, ".queue_name")); err == nil {
				name = strings.TrimSpace(string(b))
			}
			sc.QueueDirs = append(sc.QueueDirs, name)
		}
	}
	sort.Strings(sc.QueueDirs)
	return sc, nil
}
